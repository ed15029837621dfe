/**
 * The provisioning network's HTTP boot server, run by the lab inside the
 * provisioning namespace:
 *
 *   node boot-server.ts <root> <reports.jsonl> <address> <port>
 *
 * GET /<file> serves the boot files in <root> (boot.ipxe, vmlinuz,
 * initrd.img); GET /report?mac=…&ip=…&uptime=… is how a booted guest reports
 * in: one JSON line per report is appended to <reports.jsonl>, which the host
 * side reads (the namespace's address is not reachable from the host).
 *
 * With a fifth argument, <fpbl socket>, every request whose path starts with
 * /fpbl/ goes to the HTTP server listening on that unix socket (HIL's
 * provisioning endpoint; a unix socket reaches across network namespaces):
 * method, path, headers and body as they came, plus `x-forwarded-for` (the
 * node's address), and the answer streamed back. 502 when nothing answers.
 */
import { appendFileSync, createReadStream, statSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { basename, join } from 'node:path';

export interface BootReport {
  /** ISO time the report arrived. */
  at: string;
  mac: string;
  ip: string;
  /** The guest's uptime in seconds when it reported. */
  uptime: number;
  /** The address the request came from. */
  from: string;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Headers that describe one connection, not the message: not forwarded either way. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer'];

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out = { ...headers };
  for (const h of HOP_BY_HOP) delete out[h];
  return out;
}

/** Forwards one request to the HTTP server on `socketPath`, and its answer back. */
function forward(socketPath: string, req: IncomingMessage, res: ServerResponse, log: (status: number) => void): void {
  const client = req.socket.remoteAddress ?? '';
  const headers = endToEnd(req.headers);
  headers['x-forwarded-for'] = headers['x-forwarded-for'] ? `${headers['x-forwarded-for']}, ${client}` : client;
  // agent: false, a connection per request: nothing pooled outlives the endpoint going away.
  const upstream = request({ socketPath, method: req.method, path: req.url, headers, agent: false }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEnd(answer.headers));
    answer.pipe(res);
    log(answer.statusCode ?? 502);
  });
  upstream.on('error', (err) => {
    if (!res.headersSent) {
      res.writeHead(502, { 'content-type': 'text/plain' }).end(`the provisioning endpoint does not answer: ${err.message}\n`);
      log(502);
    } else {
      res.destroy(); // the answer broke off half-way: so must ours
    }
  });
  // The node gave up (e.g. its wget timed out): so does the upstream request.
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
}

export function serveBoot(root: string, reportsFile: string, address: string, port: number, fpblSocket?: string) {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://boot');
    const log = (status: number) => console.log(`${new Date().toISOString()} ${req.socket.remoteAddress} ${req.method} ${url.pathname} ${status}`);
    if (fpblSocket && url.pathname.startsWith('/fpbl/')) return forward(fpblSocket, req, res, log);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return log(405);
    }
    if (url.pathname === '/report') {
      const mac = (url.searchParams.get('mac') ?? '').toLowerCase();
      if (!MAC.test(mac)) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('mac must look like 52:54:00:00:00:01\n');
        return log(400);
      }
      const report: BootReport = {
        at: new Date().toISOString(),
        mac,
        ip: url.searchParams.get('ip') ?? '',
        uptime: Number(url.searchParams.get('uptime') ?? NaN),
        from: req.socket.remoteAddress ?? '',
      };
      appendFileSync(reportsFile, JSON.stringify(report) + '\n');
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return log(200);
    }
    // Only plain names in the root: no directories, no "..".
    const name = basename(url.pathname);
    if (name !== url.pathname.slice(1) || name.startsWith('.')) {
      res.writeHead(404).end();
      return log(404);
    }
    const file = join(root, name);
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      res.writeHead(404).end();
      return log(404);
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
    log(200);
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).pipe(res);
  });
  server.listen(port, address);
  return server;
}

if (import.meta.main) {
  const [root, reports, address, port, fpblSocket] = process.argv.slice(2);
  if (!root || !reports || !address || !port) {
    console.error('usage: boot-server.ts <root> <reports.jsonl> <address> <port> [<fpbl socket>]');
    process.exit(2);
  }
  serveBoot(root, reports, address, Number(port), fpblSocket || undefined).on('listening', () => console.log(`boot server on http://${address}:${port}`));
}
