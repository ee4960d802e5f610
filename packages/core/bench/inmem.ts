/**
 * Benchmark (not a test): a 3-node cluster of RaftNodes in one process over in-memory storage, with many
 * proposals of 64-byte payloads in flight. Messages go through the real codec, as on the wire.
 * Prints one JSON line: {"bench":"core-inmem","entries_per_s":N,...}.
 */
import {
  bootstrapStorage,
  decodeMessage,
  encodeMessage,
  MemoryLogStorage,
  MemoryStableStorage,
  type Message,
  RaftNode,
} from '@flotilla/core';

const DURATION_MS = Number(process.env.BENCH_MS ?? 3000);
const IN_FLIGHT = 4096;
const PAYLOAD = new Uint8Array(64).fill(7);

async function main(): Promise<void> {
  const ids = [1, 2, 3];
  const nodes = new Map<number, { raft: RaftNode; log: MemoryLogStorage; stable: MemoryStableStorage }>();
  for (const id of ids) {
    const log = new MemoryLogStorage();
    const stable = new MemoryStableStorage();
    await bootstrapStorage(log, stable, ids);
    nodes.set(id, {
      raft: new RaftNode({ id, group: 'bench', logStorage: log, stableStorage: stable }),
      log,
      stable,
    });
  }
  let inbox: Uint8Array[] = [];
  const send = (messages: readonly Message[]) => {
    for (const m of messages) inbox.push(encodeMessage(m).slice());
  };
  let applied = 0;
  let proposed = 0;
  const leaderNode = nodes.get(1)!.raft;
  leaderNode.campaign();

  const cycle = (): void => {
    // Deliver everything queued, then let every node produce and "persist" its Ready.
    const batch = inbox;
    inbox = [];
    for (const bytes of batch) {
      const m = decodeMessage(bytes);
      nodes.get(m.to)?.raft.step(m);
    }
    for (const { raft, log, stable } of nodes.values()) {
      if (!raft.hasReady()) continue;
      const rd = raft.ready();
      send(rd.messages);
      if (rd.entries.length > 0) void log.append(rd.entries);
      if (rd.hardState) void stable.setHardState(rd.hardState);
      send(rd.messagesAfterPersist);
      if (raft === leaderNode) for (const e of rd.committedEntries) if (e.data.length === 64) applied++;
      raft.advance(rd);
    }
  };

  // Warm up until node 1 leads.
  for (let i = 0; i < 100 && leaderNode.role !== 'leader'; i++) cycle();
  if (leaderNode.role !== 'leader') throw new Error('no leader elected');

  const started = performance.now();
  let compactAt = 0;
  while (performance.now() - started < DURATION_MS) {
    const room = IN_FLIGHT - (proposed - applied);
    if (room > 0) {
      const batch = Array.from({ length: Math.min(room, 1024) }, () => PAYLOAD);
      leaderNode.proposeBatch(batch);
      proposed += batch.length;
    }
    cycle();
    // Keep memory bounded the way an application would: compact behind the applied index.
    if (applied - compactAt > 100_000) {
      for (const { raft, log } of nodes.values()) {
        const idx = raft.appliedIndex - 1000;
        const cs = raft.confStateForSnapshot(raft.appliedIndex);
        if (idx <= log.firstIndex() || !cs) continue;
        await log.saveSnapshot(
          { index: raft.appliedIndex, term: log.term(raft.appliedIndex), confState: cs },
          new Uint8Array(0),
        );
        await log.compact(idx);
      }
      compactAt = applied;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(
    JSON.stringify({
      bench: 'core-inmem',
      entries_per_s: Math.round(applied / seconds),
      nodes: 3,
      payload_bytes: 64,
      in_flight: IN_FLIGHT,
    }),
  );
}

await main();
