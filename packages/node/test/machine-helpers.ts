/**
 * Test helpers for machine instances: build the envelopes a leader would propose and apply them in order,
 * on the memory backend or on the LMDB store backend of a temporary directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AnyMachine, encodeCall, type Fence, type MemoryState, type Session } from '@flotilla/app';
import { type NodeStorage, openStorage } from '@flotilla/storage-lmdb';
import type { Backend } from '../src/machines/backend.ts';
import { encodeEnvelope } from '../src/machines/envelope.ts';
import { type InstanceOptions, MachineInstance } from '../src/machines/machine-instance.ts';
import { MemoryBackend } from '../src/machines/memory-backend.ts';
import type { Outcome } from '../src/machines/outcome.ts';
import { SESSION_DEFAULTS, type SessionLimits } from '../src/machines/sessions.ts';
import { StoreBackend } from '../src/machines/store-backend.ts';

export interface Call {
  readonly name: string;
  readonly input: unknown;
  /** `ackedBelow` defaults to 0: the client has acknowledged nothing. */
  readonly session?: Omit<Session, 'ackedBelow'> & { readonly ackedBelow?: number };
  readonly fence?: Fence;
  readonly timestampMs?: number;
  readonly term?: number;
}

/** An envelope as the leader builds it (the call validated against the machine's schema). */
export function envelope(machine: AnyMachine, call: Call): Uint8Array {
  return encodeEnvelope({
    session: call.session && { ackedBelow: 0, ...call.session },
    fence: call.fence,
    timestampMs: call.timestampMs ?? 1_000,
    call: encodeCall(machine, 'command', call.name, call.input).payload,
  });
}

export class MachineHarness {
  index = 0;
  constructor(readonly instance: MachineInstance) {}

  /** Applies `calls` as one batch of consecutive entries; returns their outcomes. */
  apply(machine: AnyMachine, ...calls: Call[]): (Outcome | undefined)[] {
    return this.instance.apply(
      calls.map((c) => ({ index: ++this.index, term: c.term ?? 1, data: envelope(machine, c) })),
    );
  }

  /** Applies raw entry data (a malformed envelope, a checkpoint). */
  applyRaw(data: Uint8Array, term = 1): (Outcome | undefined)[] {
    return this.instance.apply([{ index: ++this.index, term, data }]);
  }
}

export function memoryInstance(
  machine: AnyMachine,
  options: Partial<InstanceOptions> & { sessions?: SessionLimits } = {},
): MachineHarness {
  const backend = new MemoryBackend(
    machine.state as MemoryState<unknown>,
    options.sessions ?? SESSION_DEFAULTS,
  );
  return new MachineHarness(instance(machine, backend, options));
}

function instance(machine: AnyMachine, backend: Backend, options: Partial<InstanceOptions>): MachineInstance {
  return new MachineInstance({ group: 'g:0', machine, backend, checkpointEntries: 10, ...options });
}

/** LMDB store machines in a temporary directory; `close` removes it. */
export class StoreFixture {
  readonly dir = mkdtempSync(join(tmpdir(), 'flotilla-machines-'));
  private storage: NodeStorage | undefined;

  async open(): Promise<NodeStorage> {
    this.storage ??= await openStorage({ path: this.dir, nodeId: 1 });
    return this.storage;
  }

  async instance(
    machine: AnyMachine,
    group = 'g:0',
    options: Partial<InstanceOptions> & { sessions?: SessionLimits } = {},
  ): Promise<MachineHarness> {
    const storage = await this.open();
    const backend = new StoreBackend(
      (apply) => storage.kvStateMachine(group, apply),
      options.sessions ?? SESSION_DEFAULTS,
    );
    const harness = new MachineHarness(instance(machine, backend, { group, ...options }));
    harness.index = harness.instance.appliedIndex;
    return harness;
  }

  /** Closes the environment (after its writes) so the next `instance` reads from disk. */
  async reopen(): Promise<void> {
    const storage = this.storage;
    this.storage = undefined;
    await storage?.close();
  }

  async close(): Promise<void> {
    await this.reopen();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
