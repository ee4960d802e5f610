#!/usr/bin/env bash
# bench:cluster's baseline needs an etcd binary: installs Debian's etcd-server (3.4) when it is missing.
# Without root or apt the benchmark still runs and says the etcd baseline was skipped.
set -uo pipefail
command -v etcd >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server >/dev/null 2>&1; }
fi
command -v etcd >/dev/null 2>&1 || echo "etcd not installed: the etcd baseline will be skipped" >&2
exit 0
