/**
 * Linearizability of the key-value API of a real 3-process cluster under faults: 8 sequential clients on 10
 * keys while a nemesis kills -9 one node or all, freezes, isolates and moves leaders; the recorded history
 * goes through the per-key Wing–Gong/Lowe checker. LIN_SEED replays the workload's choices (the cluster's
 * timing is not replayable), LIN_FAULTS=kill,crash,pause,partition,transfer picks the schedule, and
 * LIN_DEBUG=1 prints a per-second timeline.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Kv, KvMachine } from '@flotilla/client';
import { ProcessCluster, waitForFormation } from '../packages/node/test/process-cluster.ts';
import { checkHistory } from './linearizability/checker.ts';
import { prng } from './linearizability/generate.ts';
import { HistoryRecorder } from './linearizability/history.ts';
import { type FaultKind, Nemesis } from './linearizability/nemesis.ts';
import { countRun, timeline } from './linearizability/report.ts';
import { runClient } from './linearizability/workload.ts';

const MEMBERS = [1, 2, 3];
const CLIENTS = 8;
const KEYS = 10;
const CLIENT_TIMEOUT_MS = 1_500;
/** Faults start during this window; one under way at its end runs to completion. */
const FAULT_WINDOW_MS = 18_000;
const CALM_GAP_MS = 1_000;
const DEFAULT_SCHEDULE: FaultKind[] = ['kill', 'partition', 'crash', 'pause', 'transfer'];
const SCHEDULE = (process.env.LIN_FAULTS?.split(',') ?? DEFAULT_SCHEDULE) as FaultKind[];
const SEED = Number(process.env.LIN_SEED ?? Math.floor(Math.random() * 2 ** 31));

// Frequent snapshots and a short log behind them: a node back from kill -9 catches up by snapshot.
const cluster = new ProcessCluster({
  userShards: 4,
  extraToml: '[raft]\nsnapshot_entries = 300\ncompaction_margin_entries = 50\n',
});
after(() => cluster.stop());

test('8 clients under kill -9, crashes, pauses, partitions and leader transfers see a linearizable store', {
  timeout: 120_000,
}, async () => {
  await cluster.start(MEMBERS);
  const admin = await cluster.client(MEMBERS, 2_000);
  await waitForFormation(cluster, admin, MEMBERS);
  const keys = Array.from({ length: KEYS }, (_, i) => `lin-${i}`);
  const groups = [...new Set(keys.map((k) => admin.groupOf(KvMachine, { key: k, shards: 'user' })))];
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, () => cluster.client(MEMBERS, CLIENT_TIMEOUT_MS)),
  );

  const recorder = new HistoryRecorder();
  const workload = { keys, readRatio: 0.5, leaseRatio: 0.25, deleteRatio: 0.05, random: prng(SEED) };
  let stopped = false;
  const running = clients.map((c, i) => runClient(c, i + 1, recorder, workload, () => stopped));
  const nemesis = new Nemesis(cluster, admin, {
    groups,
    members: MEMBERS,
    faultHoldMs: 2_000,
    settleTimeoutMs: 5_000,
    pauseMs: 1_000,
    crashHoldMs: 500,
  });
  try {
    await nemesis.run(SCHEDULE, performance.now() + FAULT_WINDOW_MS, CALM_GAP_MS);
  } finally {
    nemesis.resume();
    await nemesis.heal();
  }
  await new Promise((r) => setTimeout(r, CALM_GAP_MS));
  stopped = true;
  await Promise.all(running);

  const history = recorder.history();
  const result = checkHistory(history);
  const counts = countRun(history);
  const faults = nemesis.log.filter((f) => f.effective);
  console.log(
    JSON.stringify({
      test: 'linearizability',
      ops: counts.ops,
      indeterminate: counts.indeterminate,
      keys: KEYS,
      faults: faults.length,
      linearizable: result.verdict === 'linearizable',
      completed: counts.completed,
      lease_reads: counts.leaseReads,
      fault_kinds: faults.map((f) => f.kind).join(','),
      seed: SEED,
      states: result.states,
    }),
  );
  if (process.env.LIN_DEBUG || result.verdict !== 'linearizable')
    for (const line of timeline(history, nemesis.log)) console.log(line);

  if (result.verdict === 'violation')
    assert.fail(`not linearizable (seed ${SEED}):\n${result.violation.text}`);
  assert.equal(
    result.verdict,
    'linearizable',
    `the search ran out of budget on key ${JSON.stringify(result)}`,
  );
  assert.ok(counts.completed >= 1_000, `only ${counts.completed} calls completed`);
  assert.ok(counts.readsOfWrites >= 100, `only ${counts.readsOfWrites} reads returned a written value`);
  assert.ok(counts.leaseReads >= 50, `only ${counts.leaseReads} lease reads completed`);
  assert.ok(faults.length > 0, 'no fault took effect');
  // A pause only shows if the others elect within it, which a loaded machine may not do: not required.
  for (const kind of ['kill', 'partition', 'crash', 'transfer'] as const)
    assert.ok(
      !SCHEDULE.includes(kind) || faults.some((f) => f.kind === kind),
      `no ${kind} took effect: ${JSON.stringify(nemesis.log)}`,
    );
});

test('control: stale reads from an isolated follower are caught by the same recorder and checker', {
  timeout: 60_000,
}, async () => {
  const admin = await cluster.client(MEMBERS, 2_000);
  const [status] = await waitForFormation(cluster, admin, MEMBERS);
  const key = 'control-0';
  const group = admin.groupOf(KvMachine, { key, shards: 'user' });
  const leader = status!.groups.find((g) => g.id === group)!.leaderId;
  const follower = MEMBERS.find((id) => id !== leader)!;
  const others = MEMBERS.filter((id) => id !== follower);
  await new Kv(admin).put(key, 'before');
  await admin.injectFaults(cluster.api(follower), others);
  for (const id of others) await admin.injectFaults(cluster.api(id), [follower]);
  const recorder = new HistoryRecorder();
  try {
    for (let n = 0; n < 20; n++) {
      const write = recorder.invoke(1, { op: 'put', key, value: `w${n}` });
      const written = await new Kv(admin).put(key, `w${n}`);
      write.ok(written.previous);
      const read = recorder.invoke(2, { op: 'get', key }, 'stale, from the isolated follower');
      const got = await new Kv(admin.at(cluster.api(follower))).get(key, 'stale', { group });
      read.ok(got.value);
    }
  } finally {
    for (const id of MEMBERS) await admin.injectFaults(cluster.api(id), []);
  }
  // The key's history starts at 'before' (written outside the recording): prepend that write.
  const result = checkHistory([
    {
      id: -1,
      client: 0,
      call: { op: 'put', key, value: 'before' },
      invokeMs: 0,
      outcome: { status: 'ok', completeMs: 0 },
    },
    ...recorder.history(),
  ]);
  assert.equal(result.verdict, 'violation', 'stale follower reads went unnoticed');
  assert.match((result as { violation: { text: string } }).violation.text, /from the isolated follower/);
});
