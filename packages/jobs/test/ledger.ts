/**
 * An external system that jobs write their effects to, fenced by token (Kleppmann's fencing tokens): a write
 * for a job carrying a token lower than one already seen for that job is refused. A loopback HTTP server in
 * the test process, stopped by the test.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LedgerEntry {
  token: number;
  worker: string;
  writes: number;
}

export class Ledger {
  readonly entries = new Map<string, LedgerEntry>();
  refused = 0;
  writes = 0;
  private constructor(private readonly server: Server) {}

  static async start(): Promise<Ledger> {
    let ledger: Ledger | undefined;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString('utf8');
      });
      req.on('end', () => {
        const { job, token, worker } = JSON.parse(body) as { job: string; token: number; worker: string };
        const l = ledger!;
        l.writes++;
        const known = l.entries.get(job);
        if (known !== undefined && known.token > token) {
          l.refused++;
          res.writeHead(409).end('stale token');
          return;
        }
        l.entries.set(job, { token, worker, writes: (known?.writes ?? 0) + 1 });
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    ledger = new Ledger(server);
    return ledger;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
