import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { ProcessCluster, waitForFormation } from '../packages/node/test/process-cluster.ts';
import { checkHistory } from './linearizability/checker.ts';
import { prng } from './linearizability/generate.ts';
import { HistoryRecorder } from './linearizability/history.ts';
import { Nemesis } from './linearizability/nemesis.ts';
import { runClient } from './linearizability/workload.ts';

const MEMBERS = [1, 2, 3];
const CLIENTS = 8;
const CLIENT_TIMEOUT_MS = 1_500;
const FAULTS_MS = 17_000;
const CALM_TAIL_MS = 1_000;
const SEED = Number(process.env.LIN_SEED ?? Math.floor(Math.random() * 2 ** 31));

const cluster = new ProcessCluster({ userShards: 4 });
after(() => cluster.stop());

test('8 clients under kill -9, partitions and leader transfers see a linearizable key-value store', {
  timeout: 120_000,
}, async () => {
  await cluster.start(MEMBERS);
  const admin = await cluster.client(MEMBERS, 2_000);
  await waitForFormation(cluster, admin, MEMBERS);
  const keys = Array.from({ length: 10 }, (_, i) => `lin-${i}`);
  const groups = [...new Set(keys.map((k) => admin.groupOf(k)))];
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
  });
  try {
    await nemesis.run(performance.now() + FAULTS_MS, 1_000);
  } finally {
    await nemesis.heal();
  }
  await new Promise((r) => setTimeout(r, CALM_TAIL_MS));
  stopped = true;
  await Promise.all(running);

  const history = recorder.history();
  const started = performance.now();
  const result = checkHistory(history);
  const checkMs = Math.round(performance.now() - started);
  const completed = history.filter((o) => o.outcome.status === 'ok');
  const indeterminate = history.filter((o) => o.call.op !== 'get' && o.outcome.status === 'indeterminate');
  const readsOfWrites = completed.filter(
    (o) => o.call.op === 'get' && o.outcome.status === 'ok' && typeof o.outcome.observed === 'string',
  );
  const leaseReads = completed.filter((o) => o.note === 'lease');
  const faults = nemesis.log.filter((f) => f.effective);
  const summary = {
    test: 'linearizability',
    ops: history.length,
    completed: completed.length,
    indeterminate: indeterminate.length,
    keys: keys.length,
    faults: faults.length,
    linearizable: result.verdict === 'linearizable',
    seed: SEED,
    check_ms: checkMs,
    states: result.states,
  };
  console.log(JSON.stringify(summary));
  if (process.env.LIN_DEBUG) {
    const t0 = history[0]!.invokeMs;
    const buckets = new Map<number, number[]>();
    for (const o of history) {
      const b = Math.floor((o.invokeMs - t0) / 1000);
      const row = buckets.get(b) ?? [0, 0, 0, 0];
      row[0]! += 1;
      if (o.outcome.status === 'ok') row[1]! += 1;
      if (o.outcome.status !== 'ok') row[2]! += 1;
      if (o.outcome.status === 'ok') row[3]! += o.outcome.completeMs - o.invokeMs;
      buckets.set(b, row);
    }
    for (const [b, r] of buckets) console.log(b, r[0], r[1], r[2], (r[3]! / r[1]!).toFixed(1));
    console.log(
      JSON.stringify(nemesis.log.map((f) => ({ ...f, startMs: f.startMs - t0, endMs: f.endMs - t0 }))),
    );
    const notes = new Map<string, number>();
    for (const o of history)
      if (o.outcome.status !== 'ok')
        notes.set(`${o.call.op} ${o.note}`, (notes.get(`${o.call.op} ${o.note}`) ?? 0) + 1);
    console.log(JSON.stringify([...notes]));
  }

  if (result.verdict === 'violation')
    assert.fail(
      `not linearizable (seed ${SEED}; faults ${JSON.stringify(nemesis.log)}):\n${result.violation.text}`,
    );
  assert.equal(result.verdict, 'linearizable', `the check was inconclusive on key ${JSON.stringify(result)}`);
  assert.ok(completed.length >= 1_000, `only ${completed.length} calls completed`);
  assert.ok(readsOfWrites.length >= 100, `only ${readsOfWrites.length} reads observed a written value`);
  assert.ok(leaseReads.length >= 50, `only ${leaseReads.length} lease reads completed`);
  for (const kind of ['kill', 'partition', 'transfer'] as const)
    assert.ok(
      faults.some((f) => f.kind === kind),
      `no effective ${kind} fault: ${JSON.stringify(nemesis.log)}`,
    );
});
