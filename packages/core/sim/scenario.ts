/**
 * Per-seed choices: cluster size, Raft options and fault rates. Everything derives from the seed, so a
 * failing seed replays exactly.
 */
import type { Xoshiro128 } from '@flotilla/core';
import type { RaftOptions } from './sim-node.ts';

export interface Scenario {
  readonly nodeCount: number;
  readonly raft: RaftOptions;
  /** Nodes may tick at different rates or pause (only with safe reads: leases assume equal clock rates). */
  readonly clockSkew: boolean;
  readonly faultTicks: number;
  readonly livenessTicks: number;
  readonly clientCount: number;
  /** Per time unit, the chance of each kind of event during the fault phase. */
  readonly rates: {
    readonly crash: number;
    readonly restart: number;
    readonly partition: number;
    readonly heal: number;
    readonly pause: number;
    readonly membership: number;
    readonly transfer: number;
    readonly snapshot: number;
    readonly campaign: number;
    readonly write: number;
    readonly read: number;
    readonly networkChange: number;
  };
}

function pick<T>(random: Xoshiro128, items: readonly T[]): T {
  return items[random.int(items.length)]!;
}

export function scenarioFor(random: Xoshiro128): Scenario {
  const checkQuorum = random.float() < 0.75;
  const readOnly = checkQuorum && random.float() < 0.35 ? 'lease' : 'safe';
  return {
    nodeCount: pick(random, [3, 3, 5, 5, 5, 4]),
    raft: {
      electionTicks: 10,
      heartbeatTicks: pick(random, [1, 1, 2, 3]),
      preVote: random.float() < 0.75,
      checkQuorum,
      readOnly,
      appendBytesMax: pick(random, [64, 512, 1 << 20]),
      inflightMessagesMax: pick(random, [1, 4, 256]),
      inflightBytesMax: pick(random, [0, 256, 1 << 20]),
      uncommittedBytesMax: pick(random, [2048, 1 << 20]),
      // Several Readies in flight (asynchronous storage writes) in half of the runs.
      readiesInFlightMax: pick(random, [1, 1, 2, 4]),
    },
    clockSkew: readOnly === 'safe',
    faultTicks: 300,
    livenessTicks: 400,
    clientCount: pick(random, [2, 4, 8]),
    rates: {
      crash: 1 / 600,
      restart: 1 / 150,
      partition: 1 / 500,
      heal: 1 / 300,
      pause: 1 / 700,
      membership: 1 / 700,
      transfer: 1 / 900,
      snapshot: 1 / 200,
      campaign: 1 / 1500,
      write: 1 / 4,
      read: 1 / 8,
      networkChange: 1 / 800,
    },
  };
}
