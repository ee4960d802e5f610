/**
 * `Ready`: everything the core asks the application to do after a batch of inputs, as plain data.
 *
 * The contract (thesis §10.2.1 for the leader's parallel write):
 *
 *   rd = node.ready()
 *   ├─ send rd.messages now                     (leader appends/heartbeats, forwards, pre-votes)
 *   ├─ persist, in this order or atomically:    rd.snapshot → rd.entries (LogStorage.installSnapshot/append)
 *   │                                           → rd.hardState (StableStorage.setHardState)
 *   ├─ when durable: send rd.messagesAfterPersist (acks, votes, vote requests: they promise durable state)
 *   ├─ restore the state machine from rd.snapshot (if any), then apply rd.committedEntries in order
 *   └─ node.advance(rd)
 *
 * By default one Ready is outstanding at a time: `ready()` must not be called again before `advance`.
 * With `readiesInFlightMax` > 1 (etcd's asynchronous storage writes) up to that many may be: each is
 * persisted after the ones before it (storage completes writes in issue order), its `messagesAfterPersist`
 * leave once it is durable, and `advance` is called for each in the order they were handed out. A Ready
 * with a snapshot is always alone. Inputs (`step`, `tick`, `propose`, …) may be given while Readies are
 * being persisted; their effects come in the next one. A leader counts its own log toward commit only once `advance` reported the entries durable,
 * and `committedEntries` only contains entries already durable here, so applying never outruns the log.
 */
import type { Message } from './messages.ts';
import type { Entry, HardState, ReadState, Snapshot, SoftState } from './types.ts';

export interface Ready {
  /** Set when the leader or role changed since the last Ready. */
  readonly softState?: SoftState;
  /** Set when term, vote or commit changed: persist it. */
  readonly hardState?: HardState;
  /** A snapshot received from the leader: persist it before `entries`, restore the state machine from it. */
  readonly snapshot?: Snapshot;
  /** Entries to append to the log (they may overwrite a conflicting suffix). */
  readonly entries: readonly Entry[];
  /** Committed, durable entries to apply in order (no-ops and conf changes included; see `StateMachine`). */
  readonly committedEntries: readonly Entry[];
  /** Messages that may be sent before the writes above are durable. */
  readonly messages: readonly Message[];
  /** Messages that must wait until the writes above are durable. */
  readonly messagesAfterPersist: readonly Message[];
  /** Confirmed ReadIndex requests: serve each once the state machine applied `index`. */
  readonly readStates: readonly ReadState[];
  /** Contexts of local ReadIndex requests that failed (leadership lost, too many pending). */
  readonly failedReads: readonly Uint8Array[];
  /** True when `hardState` or `entries` must be fsynced before `messagesAfterPersist` leave. */
  readonly mustSync: boolean;
}

/** Messages whose receiver relies on state the sender must have made durable first. */
export function mustWaitForPersist(m: Message): boolean {
  switch (m.type) {
    case 'appendResponse': // acknowledges entries (and our term)
    case 'vote': // carries our self-vote
    case 'voteResponse': // carries our vote
    case 'heartbeatResponse': // acknowledges our term
      return true;
    default:
      return false;
  }
}
