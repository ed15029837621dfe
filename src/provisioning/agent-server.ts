/**
 * The agent endpoint: plain HTTP on the provisioning network (or a unix
 * socket a proxy there forwards to), speaking protocol version 1 of
 * docs/fast-provisioning.md. It is not the API: nodes are not users, they
 * authenticate with their per-boot token, and their bodies are key=value
 * lines a busybox shell can read and write.
 */
import { createReadStream, mkdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { listenError, NotFoundError, TooLargeError } from '../errors.ts';
import type { ProvisioningService } from './provisioning.service.ts';
import { bearerToken } from './tokens.ts';

export interface AgentServerOptions {
  /** "host:port" or "unix:/path". */
  listen: string;
  /** Path of an image file by its SHA-256 (the image registry's blob store). */
  blobPath(sha256: string): string;
  log: Logger;
}

const MAX_BODY = 16 * 1024;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export function parseLines(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).replace(/\r$/, '');
  }
  return out;
}

export function formatLines(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${v.replace(/[\r\n]/g, ' ')}\n`)
    .join('');
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new TooLargeError('body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export interface AgentServer {
  /** Ends held long polls and stops listening. */
  close(): Promise<void>;
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
}

function sendFile(req: IncomingMessage, res: ServerResponse, path: string): void {
  const stream = createReadStream(path);
  stream.on('error', () => text(res, 404, 'not found\n'));
  stream.on('open', () => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    if (req.method === 'HEAD') {
      stream.destroy();
      res.end();
    } else stream.pipe(res);
  });
}

/** One request from a node: the boot script, the FPBL's files, its payload, or a report. */
async function handle(service: ProvisioningService, o: AgentServerOptions, log: Logger, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://fpbl');
  const path = url.pathname;
  const from = (req.headers['x-forwarded-for'] as string | undefined) ?? req.socket.remoteAddress ?? 'unix';
  const get = req.method === 'GET' || req.method === 'HEAD';

  if (path === '/fpbl/v1/boot.ipxe' && get) {
    const mac = (url.searchParams.get('mac') ?? '').toLowerCase();
    if (!MAC.test(mac)) return text(res, 400, 'mac must look like 52:54:00:00:00:01\n');
    const script = await service.bootScript(mac);
    log.info({ mac, from, served: script !== null }, 'boot script asked for');
    if (!script) return text(res, 404, `hil: ${mac} is not waiting to boot the FPBL\n`);
    return text(res, 200, script);
  }
  const fpbl = /^\/fpbl\/v1\/fpbl\/(vmlinuz|initrd\.img)$/.exec(path);
  if (fpbl && get) return sendFile(req, res, service.fpblFile(fpbl[1]));

  const token = bearerToken(req.headers.authorization);
  const payload = /^\/fpbl\/v1\/payload\/(kernel|initrd)$/.exec(path);
  if (payload && get) {
    const found = token ? await service.payload(token, payload[1]) : 'unauthorized';
    if (found === 'unauthorized') return text(res, 401, 'a valid token is required\n');
    if (!found) return text(res, 404, 'no deploy is waiting for this node\n');
    return sendFile(req, res, o.blobPath(found.sha256));
  }
  const blob = /^\/fpbl\/v1\/blob\/([0-9a-f]{64})$/.exec(path);
  if (blob && get) {
    const found = token ? await service.blob(token, blob[1]) : 'unauthorized';
    if (found === 'unauthorized') return text(res, 401, 'a valid token is required\n');
    if (!found) return text(res, 404, "not an image this node's project may deploy\n");
    return sendFile(req, res, o.blobPath(found.sha256));
  }
  if (path === '/fpbl/v1/agent' && req.method === 'POST') {
    const report = parseLines(await readBody(req));
    if (!token) return text(res, 401, 'a valid token is required\n');
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const command = await service.agentReport(token, report, abort.signal);
    if (!command) {
      log.warn({ from, state: report.state }, 'agent report with an unknown token');
      return text(res, 401, 'unknown token\n');
    }
    if (command.command !== 'none' && command.command !== 'wait') log.info({ from, agent: report.agent, state: report.state, command: command.command }, 'agent command');
    return text(res, 200, formatLines(command));
  }
  text(res, 404, 'not found\n');
}

/** Listens on "host:port" or "unix:/path". */
function listen(server: Server, address: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(listenError('the provisioning agent endpoint', address, '[provisioning] listen or HIL_PROVISIONING_LISTEN', err)));
    if (address.startsWith('unix:')) {
      const socket = address.slice('unix:'.length);
      mkdirSync(dirname(socket), { recursive: true });
      rmSync(socket, { force: true }); // a stale socket from a previous run
      server.listen(socket, () => resolve());
    } else {
      const i = address.lastIndexOf(':');
      server.listen(Number(address.slice(i + 1)), address.slice(0, i), () => resolve());
    }
  });
}

export async function startAgentServer(service: ProvisioningService, o: AgentServerOptions): Promise<AgentServer> {
  const log = o.log.child({ component: 'fpbl-endpoint' });
  const server = createServer((req, res) => {
    handle(service, o, log, req, res).catch((err: Error) => {
      log.error({ err: err.message, url: req.url }, 'agent request failed');
      if (!res.headersSent) text(res, err instanceof NotFoundError ? 404 : 500, `${err.message}\n`);
      else res.destroy();
    });
  });
  // Long polls end when the server closes, not 5 minutes later.
  server.requestTimeout = 60_000;
  await listen(server, o.listen);
  log.info({ listen: o.listen }, 'fpbl agent endpoint listening');
  return {
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
