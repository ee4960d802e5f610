import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { encodeValue } from '../src/codec.ts';
import {
  ActorFailedError,
  type ActorRef,
  ActorSystem,
  type ActorSystemOptions,
  AskTimeoutError,
  type DeadLetter,
  HostFailedError,
  type NodeBridge,
  type NodeLinks,
  NodeUnreachableError,
  seededRandom,
} from '../src/index.ts';
import { type JournalEntry, PeerKind, type PeerMsg } from './fixtures/remote.ts';
import { HostKillerKind, RelayKind, SequencerKind } from './fixtures/threads.ts';

/**
 * Batches travel on a later turn (setImmediate), as over a socket; a link between two nodes can be cut (its
 * batches are lost, as the bridge's best effort allows). Every `send` is counted per direction.
 */
class MemoryNet {
  readonly links = new Map<number, NodeLinks>();
  readonly sends = new Map<string, number>();
  private readonly cut = new Set<string>();

  bridge(from: number): NodeBridge {
    return {
      send: (to, batch) => {
        const key = `${from}>${to}`;
        this.sends.set(key, (this.sends.get(key) ?? 0) + 1);
        if (this.cut.has(key)) return;
        setImmediate(() => this.links.get(to)?.receive(from, batch));
      },
    };
  }

  sent(from: number, to: number): number {
    return this.sends.get(`${from}>${to}`) ?? 0;
  }

  setCut(a: number, b: number, cut: boolean): void {
    for (const key of [`${a}>${b}`, `${b}>${a}`]) {
      if (cut) this.cut.add(key);
      else this.cut.delete(key);
    }
  }
}

interface Cluster {
  readonly net: MemoryNet;
  readonly systems: Map<number, ActorSystem>;
  readonly letters: DeadLetter[];
}

async function startCluster(nodeIds: number[], options: ActorSystemOptions): Promise<Cluster> {
  const net = new MemoryNet();
  const systems = new Map<number, ActorSystem>();
  const letters: DeadLetter[] = [];
  for (const nodeId of nodeIds) {
    const system = await ActorSystem.start({ ...options, nodeId });
    system.deadLetters.subscribe((letter) => letters.push(letter));
    systems.set(nodeId, system);
    net.links.set(nodeId, system.connectNodes(net.bridge(nodeId)));
  }
  return { net, systems, letters };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true (bounded: fails after `timeoutMs`). */
async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await sleep(5);
  }
}

for (const hosts of [0, 1]) {
  const where = hosts === 0 ? 'main' : 0;
  const expectedSlot = hosts === 0 ? -1 : 0;

  describe(`actors across nodes (hosts: ${hosts})`, { timeout: 90_000 }, () => {
    let cluster: Cluster;
    let n1: ActorSystem;
    let n2: ActorSystem;
    let n3: ActorSystem;
    const links = (node: number) => cluster.net.links.get(node)!;
    const journal = (system: ActorSystem, ref: ActorRef<PeerMsg>) => system.ask(ref, { type: 'journal' });

    before(async () => {
      cluster = await startCluster([1, 2, 3], { hosts, askTimeoutMs: 10_000 });
      n1 = cluster.systems.get(1)!;
      n2 = cluster.systems.get(2)!;
      n3 = cluster.systems.get(3)!;
    });
    after(async () => {
      await Promise.all([...cluster.systems.values()].map((s) => s.shutdown()));
    });

    test('refs minted by a system with a node id name their node', async () => {
      const peer = await n2.spawn(PeerKind, { name: 'minted', host: where });
      const minted: unknown = peer; // (deepEqual narrows its argument, which would lose the protocol)
      assert.deepEqual(minted, { path: '/minted', uid: peer.uid, slot: expectedSlot, node: 2 });
      assert.deepEqual(n2.lookup('minted'), peer);
      const pong: string = await n2.ask(peer, { type: 'ping', text: 'self' });
      assert.equal(pong, `pong:self@2/${expectedSlot}`);
    });

    test('tells reach an actor on another node in order; 1,000 tells in one turn are one bridge.send', async () => {
      const targets = [await n2.spawn(SequencerKind, { name: 'seq-main', host: 'main' })];
      if (hosts > 0) targets.push(await n2.spawn(SequencerKind, { name: 'seq-host', host: 0 }));
      await turn();
      const sendsBefore = cluster.net.sent(1, 2);
      const framesBefore = links(1).stats().framesSent;
      for (const target of targets) {
        for (let n = 1; n <= 1_000; n++) n1.tell(target, { type: 'seq', from: 'n1', n });
      }
      await turn();
      assert.equal(cluster.net.sent(1, 2) - sendsBefore, 1, 'one batch for the whole turn');
      assert.equal(links(1).stats().framesSent - framesBefore, targets.length, 'one run per target');
      for (const target of targets) {
        const report = await n1.ask(target, { type: 'report' });
        assert.deepEqual(report, { received: 1_000, outOfOrder: 0, threadSlot: target.slot });
      }
    });

    test('an actor floods an actor on another node in order, and asks it across nodes', async () => {
      const sequencer = await n2.spawn(SequencerKind, {
        name: 'seq-flood',
        host: where,
        mailboxCapacity: 50_000,
      });
      const relay = await n1.spawn(RelayKind, { name: 'relay', host: where });
      assert.equal(await n1.ask(relay, { type: 'flood', to: sequencer, count: 20_000 }), 20_000);
      assert.deepEqual(await n1.ask(sequencer, { type: 'report' }), {
        received: 20_000,
        outOfOrder: 0,
        threadSlot: expectedSlot,
      });
    });

    test('asks across nodes: typed reply, ActorFailedError from a throwing receive, sender refs reach back', async () => {
      const peer1 = await n1.spawn(PeerKind, { name: 'peer', host: where });
      const peer2 = await n2.spawn(PeerKind, { name: 'peer', host: where });
      const boomer = await n2.spawn(PeerKind, { name: 'boomer', host: where });
      const pong: string = await n1.ask(peer2, { type: 'ping', text: 'hi' });
      assert.equal(pong, `pong:hi@2/${expectedSlot}`);
      await assert.rejects(
        n1.ask(boomer, { type: 'boom' }),
        (error: unknown) =>
          error instanceof ActorFailedError &&
          error.path === '/boomer' &&
          /boom on request/.test(error.detail),
      );
      // An actor on node 1 asks across nodes (from a host thread with hosts: 1).
      assert.equal(
        await n1.ask(peer1, { type: 'relay-ask', to: peer2, text: 'via' }),
        `pong:via@2/${expectedSlot}`,
      );
      // node 1's peer tells node 2's peer, which answers the sender it received.
      n1.tell(peer1, { type: 'poke', to: peer2, n: 7 });
      await eventually('hello-back on node 1', async () =>
        (await journal(n1, peer1)).some((e) => e.type === 'hello-back' && e.n === 7),
      );
      const back = (await journal(n1, peer1)).find((e) => e.type === 'hello-back');
      assert.deepEqual(back, { type: 'hello-back', n: 7, fromNode: 2, fromSlot: expectedSlot });
    });

    test('a ref carried inside a message is usable from the other node (and points at a third)', async () => {
      const peer1 = n1.lookup('peer') as ActorRef<PeerMsg>;
      const peer2 = n2.lookup('peer') as ActorRef<PeerMsg>;
      const peer3 = await n3.spawn(PeerKind, { name: 'peer', host: where });
      n1.tell(peer2, { type: 'deliver-to', to: peer1, text: 'carried home' });
      n1.tell(peer2, { type: 'deliver-to', to: peer3, text: 'carried on' });
      await eventually('note on node 1', async () =>
        (await journal(n1, peer1)).some((e) => e.type === 'note' && e.text === 'carried home'),
      );
      await eventually('note on node 3', async () =>
        (await journal(n3, peer3)).some((e) => e.type === 'note' && e.text === 'carried on'),
      );
    });

    test('watch across nodes: stopping the remote actor delivers Terminated; unwatch prevents it', async () => {
      const watcher = await n1.spawn(PeerKind, { name: 'watcher', host: where });
      const kept = await n2.spawn(PeerKind, { name: 'kept', host: where });
      const dropped = await n2.spawn(PeerKind, { name: 'dropped', host: where });
      n1.tell(watcher, { type: 'watch', target: kept });
      n1.tell(watcher, { type: 'watch', target: dropped });
      n1.tell(watcher, { type: 'unwatch', target: dropped });
      // The watch frames left before these asks, on the same path: once answered, the watches are in place.
      await n1.ask(watcher, { type: 'relay-ask', to: kept, text: 'sync' });
      await n1.ask(watcher, { type: 'relay-ask', to: dropped, text: 'sync' });
      await n2.stop(dropped);
      await n2.stop(kept);
      await eventually('Terminated for /kept', async () =>
        (await journal(n1, watcher)).some((e) => e.type === 'terminated'),
      );
      await sleep(50);
      const terminated = (await journal(n1, watcher)).filter((e) => e.type === 'terminated');
      assert.deepEqual(terminated, [{ type: 'terminated', path: '/kept', node: 2 }]);
      // Watching an actor already gone answers at once.
      n1.tell(watcher, { type: 'watch', target: dropped });
      await eventually('Terminated for /dropped', async () =>
        (await journal(n1, watcher)).some((e) => e.type === 'terminated' && e.path === '/dropped'),
      );
    });

    test('lookupRemote finds a top-level actor by name (slot and uid), undefined for an unknown name', async () => {
      const found = await n1.lookupRemote(2, 'peer');
      assert.deepEqual(found, n2.lookup('peer'));
      assert.equal(found?.slot, expectedSlot);
      assert.equal(found?.node, 2);
      assert.equal(await n1.lookupRemote(2, 'nobody'), undefined);
      assert.equal(
        await n1.ask(found as ActorRef<PeerMsg>, { type: 'ping', text: 'found' }),
        `pong:found@2/${expectedSlot}`,
      );
      cluster.net.setCut(1, 2, true);
      try {
        await assert.rejects(n1.lookupRemote(2, 'peer', { timeoutMs: 100 }), AskTimeoutError);
      } finally {
        cluster.net.setCut(1, 2, false);
      }
    });

    test('malformed batches are counted and dropped; the well-formed frames beside them and the system go on', async () => {
      const peer2 = n2.lookup('peer') as ActorRef<PeerMsg>;
      const before = links(2).stats().malformed;
      const random = seededRandom(7);
      const noise = Uint8Array.from({ length: 64 }, () => Math.floor(random() * 256));
      const tells = (path: unknown, messages: unknown, sender: unknown = null) => [
        3,
        path,
        peer2.uid,
        sender,
        messages,
      ];
      const good = [peer2.slot, tells('/peer', [{ type: 'note', text: 'beside the bad' }])];
      const bad: unknown[] = [
        noise,
        Uint8Array.of(0xc1),
        Uint8Array.of(0x93, 1, 2),
        encodeValue({ not: 'a batch' }),
        encodeValue([2, peer2.slot, tells('/peer', [{ type: 'note', text: 'v2' }])]),
        encodeValue([1, peer2.slot]),
        'not bytes',
      ];
      for (const batch of bad) links(2).receive(1, batch as Uint8Array);
      links(2).receive(2, encodeValue([1, ...good])); // claims to come from the node itself
      const badFrames: unknown[] = [
        [0, '/peer', peer2.uid],
        tells('peer', [{ type: 'note', text: 'relative' }]),
        tells('/peer', ['not a message']),
        tells('/peer', []),
        tells('/peer', [{ type: 'note' }], { path: 5 }),
        [1, 1, false, 'not a descriptor'],
        [1, 0, true],
        [2, { type: 'spawn', reqId: 1 }],
        [2, { type: 'end' }],
        [2, { type: 'watch', target: { path: '/peer' }, watcher: { path: '/w', uid: 1, slot: -1 } }],
        [9, 'unknown kind'],
        'not a tuple',
      ];
      const entries: unknown[] = [1];
      for (const frame of badFrames) entries.push(peer2.slot, frame);
      entries.push(0, [2, { type: 'lookup', id: 1, name: 'peer' }]); // lookups go to main only
      entries.push('main', good[1]); // not a slot
      entries.push(...good);
      links(2).receive(1, encodeValue(entries));
      const expected = bad.length + 1 + badFrames.length + 2;
      assert.equal(links(2).stats().malformed - before, expected);
      const peer1 = n1.lookup('peer') as ActorRef<PeerMsg>;
      assert.match(await n1.ask(peer2, { type: 'ping', text: 'still' }), /^pong:still@2/);
      const notes = (await journal(n2, peer2)).filter((e) => e.type === 'note');
      assert.deepEqual(notes, [{ type: 'note', text: 'beside the bad' }]);
      assert.match(await n2.ask(peer1, { type: 'ping', text: 'back' }), /^pong:back@1/);
    });

    test('messages that do not encode are dead letters (tell) or rejections (ask); the rest of the batch goes', async () => {
      const peer2 = n2.lookup('peer') as ActorRef<PeerMsg>;
      cluster.letters.length = 0;
      const unencodable = { type: 'note', text: Symbol('no') } as unknown as PeerMsg;
      n1.tell(peer2, { type: 'note', text: 'before' });
      n1.tell(peer2, unencodable);
      n1.tell(peer2, { type: 'note', text: 'after' });
      const asked = n1.ask(peer2, { type: 'ping', text: Symbol('no') as unknown as string });
      await assert.rejects(asked, /symbol/);
      await eventually(
        'both notes',
        async () =>
          (await journal(n2, peer2)).filter((e) => e.type === 'note' && e.text !== 'beside the bad')
            .length === 2,
      );
      const notes = (await journal(n2, peer2))
        .filter((e) => e.type === 'note')
        .map((e) => (e as { text: string }).text);
      assert.deepEqual(notes.slice(-2), ['before', 'after']);
      assert.deepEqual(
        cluster.letters.filter((l) => l.recipient.path === '/peer').map((l) => [l.reason, l.recipient.node]),
        [['not-cloneable', 2]],
      );
    });

    test('nodeDown: pending asks reject with NodeUnreachableError (main and actors), watchers get Terminated once', async () => {
      const hang3 = await n3.spawn(PeerKind, { name: 'hang', host: where });
      const watcher3 = await n3.spawn(PeerKind, { name: 'watcher3', host: where });
      const watcher1 = await n1.spawn(PeerKind, { name: 'watcher-down', host: where });
      const target1 = await n1.spawn(PeerKind, { name: 'target-down', host: where });
      n1.tell(watcher1, { type: 'watch', target: hang3 });
      n3.tell(watcher3, { type: 'watch', target: target1 });
      await n3.ask(watcher3, { type: 'relay-ask', to: target1, text: 'sync' }); // node 3's watch is in place
      await n1.ask(watcher1, { type: 'relay-ask', to: hang3, text: 'sync' });
      const framesBefore = links(3).stats().framesReceived;
      const fromMain = n1.ask(hang3, { type: 'hang' }, { timeoutMs: 20_000 });
      const fromActor = n1.ask(watcher1, {
        type: 'relay-ask',
        to: hang3,
        text: '',
        hang: true,
        timeoutMs: 20_000,
      });
      // Both asks left (they reached node 3, which does not answer them) before node 3 goes down.
      await eventually('both asks at node 3', () => links(3).stats().framesReceived - framesBefore >= 2);
      cluster.net.setCut(1, 3, true);
      links(1).nodeDown(3);
      await assert.rejects(
        fromMain,
        (error: unknown) => error instanceof NodeUnreachableError && error.node === 3,
      );
      assert.equal(await fromActor, 'error:FLOTILLA_NODE_UNREACHABLE:true');
      links(1).nodeDown(3); // idempotent
      await eventually('Terminated for /hang', async () =>
        (await journal(n1, watcher1)).some((e) => e.type === 'terminated'),
      );
      // Node 3's watch on node 1's actor was forgotten: stopping it tells node 3 nothing.
      cluster.net.setCut(1, 3, false);
      const sendsBefore = cluster.net.sent(1, 3);
      await n1.stop(target1);
      await sleep(50);
      assert.equal(cluster.net.sent(1, 3), sendsBefore);
      // After nodeDown, sends are attempted again; node 3 still knows node 1's watcher, but its late Terminated
      // is not delivered a second time.
      assert.equal(await n1.ask(hang3, { type: 'ping', text: 'again' }), `pong:again@3/${expectedSlot}`);
      await n3.stop(hang3);
      await sleep(50);
      assert.deepEqual(
        (await journal(n1, watcher1)).filter((e) => e.type === 'terminated'),
        [{ type: 'terminated', path: '/hang', node: 3 }],
      );
      assert.deepEqual(await journal(n3, watcher3), []);
      await assert.rejects(
        (async () => {
          const pending = n1.lookupRemote(3, 'hang', { timeoutMs: 20_000 });
          cluster.net.setCut(1, 3, true);
          await turn();
          links(1).nodeDown(3);
          return pending;
        })().finally(() => cluster.net.setCut(1, 3, false)),
        NodeUnreachableError,
      );
    });
  });
}

test('an outbox is bounded per turn: past remoteOutboxMessagesMax a tell is a dead letter, an ask rejects', {
  timeout: 30_000,
}, async () => {
  const cluster = await startCluster([1, 2], { hosts: 0, remoteOutboxMessagesMax: 10 });
  try {
    const [n1, n2] = [cluster.systems.get(1)!, cluster.systems.get(2)!];
    const sequencer = await n2.spawn(SequencerKind, { name: 'seq' });
    for (let n = 1; n <= 12; n++) n1.tell(sequencer, { type: 'seq', from: 'n1', n });
    await assert.rejects(n1.ask(sequencer, { type: 'report' }), NodeUnreachableError);
    const full = cluster.letters.filter((l) => l.reason === 'outbox-full');
    assert.deepEqual(
      full.map((l) => (l.message as { n: number }).n),
      [11, 12],
    );
    assert.equal(n1.stats().deadLetters['outbox-full'], 2);
    await turn(); // the bound is per turn: the next one has room again
    const report = await n1.ask(sequencer, { type: 'report' });
    assert.deepEqual(report, { received: 10, outOfOrder: 0, threadSlot: -1 });
  } finally {
    await Promise.all([...cluster.systems.values()].map((s) => s.shutdown()));
  }
});

for (const hosts of [0, 1]) {
  test(`without a bridge: a tell to another node is a dead letter no-route, an ask rejects (hosts: ${hosts})`, {
    timeout: 30_000,
  }, async () => {
    const system = await ActorSystem.start({ hosts, nodeId: 1 });
    try {
      const letters: DeadLetter[] = [];
      system.deadLetters.subscribe((letter) => letters.push(letter));
      const elsewhere = { path: '/peer', uid: 5, slot: -1, node: 2 } as ActorRef<PeerMsg>;
      system.tell(elsewhere, { type: 'note', text: 'lost' });
      await assert.rejects(system.ask(elsewhere, { type: 'ping', text: 'x' }), NodeUnreachableError);
      await assert.rejects(system.lookupRemote(2, 'peer'), NodeUnreachableError);
      const peer = await system.spawn(PeerKind, { name: 'peer', host: hosts === 0 ? 'main' : 0 });
      assert.equal(
        await system.ask(peer, { type: 'relay-ask', to: elsewhere, text: 'x' }),
        'error:FLOTILLA_NODE_UNREACHABLE:true',
      );
      system.tell(peer, { type: 'deliver-to', to: elsewhere, text: 'lost too' });
      system.tell(peer, { type: 'watch', target: elsewhere });
      await eventually('Terminated at once', async () =>
        (await system.ask(peer, { type: 'journal' })).some((e: JournalEntry) => e.type === 'terminated'),
      );
      assert.deepEqual(
        letters.map((l) => [l.reason, (l.message as { text: string }).text]),
        [
          ['no-route', 'lost'],
          ['no-route', 'lost too'],
        ],
      );
    } finally {
      await system.shutdown();
    }
  });
}

test('a host death on the remote node: its asks reject with HostFailedError, watches of re-spawned actors hold', {
  timeout: 60_000,
}, async () => {
  const cluster = await startCluster([1, 2], { hosts: 1, askTimeoutMs: 20_000 });
  try {
    const [n1, n2] = [cluster.systems.get(1)!, cluster.systems.get(2)!];
    const killer = await n2.spawn(HostKillerKind, { name: 'killer', host: 0 });
    const survivor = await n2.spawn(PeerKind, { name: 'survivor', host: 0 });
    const watcher = await n1.spawn(PeerKind, { name: 'watcher', host: 0 });
    n1.tell(watcher, { type: 'watch', target: survivor });
    await n1.ask(watcher, { type: 'relay-ask', to: survivor, text: 'sync' });
    const hanging = n1.ask(killer, { type: 'hang' });
    await n1.ask(killer, { type: 'ping' });
    const restarted = new Promise((resolve) =>
      n2.events.subscribe((e) => e.type === 'host-started' && resolve(e)),
    );
    n1.tell(killer, { type: 'exit' });
    await assert.rejects(hanging, (error: unknown) => error instanceof HostFailedError && error.slot === 0);
    await restarted;
    assert.equal(await n1.ask(survivor, { type: 'ping', text: 'back' }), 'pong:back@2/0');
    await n1.ask(watcher, { type: 'relay-ask', to: survivor, text: 'sync' }); // the re-sent watch is in place
    await n2.stop(survivor);
    await eventually('Terminated after the restart', async () =>
      (await n1.ask(watcher, { type: 'journal' })).some((e: JournalEntry) => e.type === 'terminated'),
    );
  } finally {
    await Promise.all([...cluster.systems.values()].map((s) => s.shutdown()));
  }
});
