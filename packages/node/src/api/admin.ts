/**
 * The admin HTTP endpoint of a node, bound to loopback unless configured otherwise: `/metrics`
 * (Prometheus), `/status` (JSON) and `/` (a live dashboard that polls `/status`).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface AdminSources {
  status(): unknown;
  readonly metrics: Registry | undefined;
}

export class AdminServer {
  private constructor(private readonly server: Server) {}

  static async listen(sources: AdminSources, host: string, port: number): Promise<AdminServer> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET') {
        res.writeHead(405).end();
        return;
      }
      if (path === '/status') {
        Promise.resolve(sources.status()).then(
          (status) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(status)),
          (error: unknown) => res.writeHead(500).end(String(error)),
        );
      } else if (path === '/metrics' && sources.metrics) {
        const registry = sources.metrics;
        registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
          (error: unknown) => res.writeHead(500).end(String(error)),
        );
      } else if (path === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(DASHBOARD);
      } else {
        res.writeHead(404).end('not found\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return new AdminServer(server);
  }

  get address(): string {
    const a = this.server.address() as AddressInfo;
    return `${a.address}:${a.port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const DASHBOARD = `<!doctype html>
<html><head><meta charset="utf-8"><title>Flotilla node</title>
<style>
body{font:14px system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse}td,th{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.leader{font-weight:bold;color:#06c}
</style></head><body>
<h1>Flotilla node <span id="node"></span></h1>
<p id="summary"></p>
<table><thead><tr><th>group</th><th>role</th><th>leader</th><th>term</th><th>commit</th><th>applied</th><th>voters</th></tr></thead>
<tbody id="groups"></tbody></table>
<script>
async function refresh(){
  try{
    const s=await (await fetch('/status')).json();
    document.getElementById('node').textContent=s.nodeId;
    document.getElementById('summary').textContent=s.mode+' · '+(s.groups||[]).length+' groups · leading '+(s.groups||[]).filter(g=>g.role==='leader').length;
    document.getElementById('groups').innerHTML=(s.groups||[]).map(g=>'<tr><td>'+g.id+'</td><td class="'+(g.role==='leader'?'leader':'')+'">'+g.role+'</td><td>'+g.leaderId+'</td><td>'+g.term+'</td><td>'+g.commitIndex+'</td><td>'+g.appliedIndex+'</td><td>'+(g.voters||[]).join(',')+'</td></tr>').join('');
  }catch(e){document.getElementById('summary').textContent='unreachable: '+e}
}
refresh();setInterval(refresh,1000);
</script></body></html>`;
