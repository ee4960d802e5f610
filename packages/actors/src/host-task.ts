/**
 * The long-lived piscina task of one host thread: a runtime holding many actors, talking to the main thread
 * over a control port and to other hosts over their own ports. It ends only when the main thread says `end`.
 */
import { randomInt } from 'node:crypto';
import { type MessagePort, workerData } from 'node:worker_threads';
import { assertNever } from '@flotilla/core';
import { pino } from 'pino';
import type { HostConfig } from './config.ts';
import { waitIdle } from './dispatcher.ts';
import { describeError } from './errors.ts';
import type { DeadLetter } from './events.ts';
import { type Control, F_CONTROL, type HostRequest } from './frames.ts';
import { stopCell } from './lifecycle.ts';
import type { Link } from './link.ts';
import { type Logger, silentLogger } from './logger.ts';
import { Runtime } from './runtime.ts';
import { realScheduler } from './scheduler.ts';

// A preload that throws fails the thread at bootstrap, before it takes a task (tests rely on that).
const preload = (workerData as { preload?: string } | undefined)?.preload;
if (preload !== undefined) await import(preload);

export interface HostTask {
  readonly slot: number;
  readonly generation: number;
  readonly control: MessagePort;
  readonly config: HostConfig;
}

export default function hostTask(task: HostTask): Promise<string> {
  return new HostThread(task).ended;
}

class HostThread {
  readonly ended: Promise<string>;
  private readonly runtime: Runtime;
  private readonly main: Link;
  private readonly config: HostConfig;
  private end!: (result: string) => void;
  private deadLettersThisTurn = 0;
  private deadLettersDropped = 0;

  constructor(task: HostTask) {
    this.config = task.config;
    this.ended = new Promise((resolve) => {
      this.end = resolve;
    });
    this.runtime = new Runtime(
      {
        slot: task.slot,
        nodeId: task.config.nodeId,
        scheduler: realScheduler,
        random: Math.random,
        newUid: () => randomInt(1, 2 ** 47),
        log: hostLogger(task.config, task.slot),
        mailboxCapacity: task.config.mailboxCapacity,
        askTimeoutMs: task.config.askTimeoutMs,
        asksPendingMax: task.config.asksPendingMax,
        supervision: task.config.supervision,
        throughputPerActor: task.config.throughputPerActor,
        dispatchBudgetMessages: task.config.dispatchBudgetMessages,
        batchMessagesMax: task.config.batchMessagesMax,
        tickIntervalMs: task.config.tickIntervalMs,
      },
      {
        deadLetter: (letter) => this.forwardDeadLetter(letter),
        event: (event) => this.toMain({ type: 'event', event }),
        escalate: (error) => this.toMain({ type: 'escalate', error: describeError(error) }),
        topLevelStopped: (path, uid) => this.toMain({ type: 'top-level-stopped', path, uid }),
        control: (_from, control) => this.onControl(control),
      },
    );
    this.main = this.runtime.addLink(-1, task.control);
    this.toMain({ type: 'ready', slot: task.slot });
  }

  private toMain(control: Control): void {
    this.main.push([F_CONTROL, control]);
  }

  // Bounded per turn: a flood of dead letters must not flood the main thread too; the excess is counted.
  private forwardDeadLetter(letter: DeadLetter): void {
    if (this.deadLettersThisTurn === 0) {
      realScheduler.runAtTurnEnd(() => {
        if (this.deadLettersDropped > 0) {
          this.toMain({ type: 'dead-letters', letters: [], droppedCount: this.deadLettersDropped });
        }
        this.deadLettersThisTurn = 0;
        this.deadLettersDropped = 0;
      });
    }
    if (this.deadLettersThisTurn++ < this.config.deadLettersPerTurnMax) {
      this.toMain({ type: 'dead-letters', letters: [letter], droppedCount: 0 });
    } else {
      this.deadLettersDropped++;
    }
  }

  private onControl(control: Control): void {
    switch (control.type) {
      case 'spawn':
      case 'stop':
      case 'reset':
      case 'drain':
      case 'stop-all':
        this.answer(control, this.handle(control));
        return;
      case 'peer-up':
        this.runtime.addLink(control.slot, control.port);
        return;
      case 'peer-down':
        this.runtime.peerDown(control.slot, 'host thread died');
        return;
      case 'host-restarted':
        this.runtime.watches.hostRestarted(control.slot, control.respawned, undefined);
        return;
      case 'node-down':
        this.runtime.nodes.nodeDown(control.node);
        return;
      case 'end':
        this.runtime.links.closeAll();
        this.end('ended');
        return;
      default:
        this.runtime.log.warn({ control: control.type }, 'unexpected control frame on a host');
    }
  }

  private async handle(request: HostRequest): Promise<void> {
    const runtime = this.runtime;
    switch (request.type) {
      case 'spawn': {
        const { spec } = request;
        const kind = { module: spec.module, exportName: spec.exportName };
        const options = { name: spec.name, uid: spec.uid, props: spec.props };
        await runtime.spawnTopLevel(
          kind,
          spec.mailboxCapacity === undefined
            ? options
            : { ...options, mailboxCapacity: spec.mailboxCapacity },
        );
        return;
      }
      case 'stop': {
        const cell = runtime.liveCell(request.path, request.uid);
        if (cell !== undefined) await stopCell(cell);
        return;
      }
      case 'reset':
        await runtime.stopTopLevel(true);
        return;
      case 'stop-all':
        await runtime.stopTopLevel(false);
        return;
      case 'drain':
        await waitIdle(runtime, request.timeoutMs);
        return;
      default:
        assertNever(request);
    }
  }

  private answer(request: HostRequest, done: Promise<void>): void {
    done.then(
      () => this.toMain({ type: 'response', reqId: request.reqId, error: undefined }),
      (error: unknown) =>
        this.toMain({ type: 'response', reqId: request.reqId, error: describeError(error) }),
    );
  }
}

function hostLogger(config: HostConfig, slot: number): Logger {
  if (config.hostLogLevel === 'silent') return silentLogger;
  return pino({ level: config.hostLogLevel }, pino.destination({ dest: 2, sync: true })).child({
    component: 'actors',
    host: slot,
  });
}
