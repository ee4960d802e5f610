/**
 * The external system the jobs write their effects to: an HTTP service (in the demo's process, outside the
 * cluster) that keeps one effect per job and refuses a write whose fencing token is older than the one it
 * holds — how a downstream system makes a job's effect happen once although the job may run twice.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Bytes of one request body, at most. */
const BODY_BYTES_MAX = 64 * 1024;

export interface Effect {
  readonly token: number;
  readonly worker: string;
  readonly effect: unknown;
  /** Writes accepted for the job (a later, newer attempt replaces the effect of an earlier one). */
  readonly writes: number;
}

export class EffectsLedger {
  readonly effects = new Map<string, Effect>();
  /** Writes refused for carrying an older token than the job's current one. */
  fenced = 0;

  private constructor(private readonly server: Server) {}

  static async start(): Promise<EffectsLedger> {
    const ledger: { value?: EffectsLedger } = {};
    const server = createServer((req, res) => {
      if (req.method !== 'POST' || req.url !== '/effects') {
        res.writeHead(404).end();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= BODY_BYTES_MAX) chunks.push(chunk);
      });
      req.on('end', () => {
        if (size > BODY_BYTES_MAX) return void res.writeHead(413).end();
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            job: string;
            token: number;
            worker: string;
            effect: unknown;
          };
          res.writeHead(ledger.value!.write(body) ? 200 : 409).end();
        } catch {
          res.writeHead(400).end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    ledger.value = new EffectsLedger(server);
    return ledger.value;
  }

  /** Records the effect unless the job already holds one under a newer token. */
  write(w: { job: string; token: number; worker: string; effect: unknown }): boolean {
    const current = this.effects.get(w.job);
    if (current !== undefined && current.token > w.token) {
      this.fenced++;
      return false;
    }
    this.effects.set(w.job, {
      token: w.token,
      worker: w.worker,
      effect: w.effect,
      writes: (current?.writes ?? 0) + 1,
    });
    return true;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
