#!/usr/bin/env bash
# bench:jobs's BullMQ baseline needs a redis-server binary: installs Debian's redis-server when it is missing.
# The package may also start a system redis on 6379; the benchmark never uses it (it runs its own on a free port).
# Without root or apt the benchmark still runs and says the BullMQ baseline was skipped.
set -uo pipefail
command -v redis-server >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null 2>&1; }
fi
command -v redis-server >/dev/null 2>&1 || echo "redis-server not installed: the BullMQ baseline will be skipped" >&2
exit 0
