/**
 * The boot network's window onto the provisioning agent endpoint: a diskless
 * node's OS never reaches the provisioning network, so its return agent
 * reports here, on the storage host's address, and the boot server passes
 * the request on to `[provisioning] listen` unchanged (docs/images.md,
 * "Reclaim by kexec"). Only what a returning node needs goes through:
 *
 *   POST /fpbl/v1/agent                      its reports (token-authenticated there)
 *   GET  /fpbl/v1/fpbl/vmlinuz, initrd.img   the FPBL it kexecs into (public)
 *
 * Boot scripts, payloads and blobs are not relayed.
 */
import { request, type IncomingMessage, type ServerResponse } from 'node:http';

/** Whether the boot server relays this request. */
export function isRelayed(method: string | undefined, path: string): boolean {
  if (path === '/fpbl/v1/agent') return method === 'POST';
  return (method === 'GET' || method === 'HEAD') && /^\/fpbl\/v1\/fpbl\/(vmlinuz|initrd\.img)$/.test(path);
}

/** The agent endpoint's `listen` ("host:port" or "unix:/path") as http.request options. */
function target(listen: string): { socketPath: string } | { host: string; port: number } {
  if (listen.startsWith('unix:')) return { socketPath: listen.slice('unix:'.length) };
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i), port: Number(listen.slice(i + 1)) };
}

/** Longer than the endpoint holds a report (20 s). */
const RELAY_TIMEOUT_MS = 30_000;
/** As the endpoint's own limit. */
const MAX_BODY = 16 * 1024;

/** Passes `req` on to the agent endpoint at `listen` and its answer back; 502 when it cannot be reached. */
export function relayToAgentEndpoint(req: IncomingMessage, res: ServerResponse, listen: string): void {
  const headers: Record<string, string> = { 'x-forwarded-for': req.socket.remoteAddress ?? '' };
  for (const h of ['authorization', 'content-type', 'content-length'] as const) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h];
  if (Number(headers['content-length'] ?? 0) > MAX_BODY) return void res.writeHead(413, { 'content-type': 'text/plain' }).end('body too large\n');
  const out = request({ ...target(listen), method: req.method, path: req.url, headers, timeout: RELAY_TIMEOUT_MS }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, { 'content-type': answer.headers['content-type'] ?? 'text/plain' });
    answer.pipe(res);
  });
  const fail = () => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end('the provisioning endpoint cannot be reached\n');
    else res.destroy();
  };
  out.on('timeout', () => out.destroy(new Error('timeout')));
  out.on('error', fail);
  res.on('close', () => out.destroy());
  req.pipe(out);
}
