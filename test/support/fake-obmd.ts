/**
 * An obmd stand-in that follows CCI-MOC/obmd's HTTP contract (spec §12):
 * admin routes with Basic admin:<token> (a wrong token does not match: 404),
 * one in-memory token per node, token routes answering 401 on a bad token,
 * power_cycle requiring a JSON body, and a console stream. It records every
 * call so tests can see what HIL asked for, and can be told to answer every
 * request with an error status.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';

export interface FakeObmd {
  url: string;
  adminToken: string;
  /** The obmd node URL to register: <url>/node/<node> */
  uri(node: string): string;
  /** What the emulator served for known nodes: "METHOD op[ body]". */
  calls: string[];
  /** Every request as received: method, path (with query) and Authorization header. */
  requests: Array<{ method: string; path: string; auth: string | undefined }>;
  /** When set, every request is answered with this status (and nothing else happens). */
  failWith?: number;
  nodeToken(node: string): string | undefined;
  close(): Promise<void>;
}

export interface FakeObmdOptions {
  /** The admin token HIL must present (default: a random one). */
  adminToken?: string;
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}

export async function startFakeObmd(nodes: string[], o: FakeObmdOptions = {}): Promise<FakeObmd> {
  const adminToken = o.adminToken ?? randomBytes(16).toString('hex');
  const tokens = new Map<string, string>();
  const calls: string[] = [];
  const known = new Set(nodes);

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url!, 'http://obmd');
    const m = /^\/node\/([^/]+)\/([a-z_]+)$/.exec(url.pathname);
    const body = await readBody(req);
    fake.requests.push({ method: req.method ?? '', path: req.url ?? '', auth: req.headers.authorization });
    if (fake.failWith !== undefined) return res.writeHead(fake.failWith).end();
    if (!m || !known.has(m[1])) return res.writeHead(404).end();
    const [, node, op] = m;
    calls.push(`${req.method} ${op}${body ? ' ' + body : ''}`);

    if (op === 'token') {
      if (req.headers.authorization !== 'Basic ' + Buffer.from(`admin:${adminToken}`).toString('base64')) return res.writeHead(404).end();
      if (req.method === 'POST') {
        const token = randomBytes(16).toString('hex');
        tokens.set(node, token);
        return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token }));
      }
      tokens.set(node, randomBytes(16).toString('hex')); // DELETE: replaced by a secret one
      return res.writeHead(200).end();
    }
    if (url.searchParams.get('token') !== tokens.get(node)) return res.writeHead(401).end();
    switch (`${req.method} ${op}`) {
      case 'POST power_cycle':
        try {
          const parsed = JSON.parse(body) as { force?: unknown };
          if (typeof parsed.force !== 'boolean') throw new Error();
        } catch {
          return res.writeHead(400).end();
        }
        return res.writeHead(200).end();
      case 'POST power_on':
      case 'POST power_off':
        return res.writeHead(200).end();
      case 'PUT boot_device':
        return res.writeHead(['A', 'B'].includes(JSON.parse(body || '{}').bootdev) ? 200 : 400).end();
      case 'GET power_status':
        return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ power_status: 'Mock Status' }));
      case 'GET console': {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        let i = 0;
        const timer = setInterval(() => res.write(`${i++}\n`), 10);
        res.on('close', () => clearInterval(timer));
        return;
      }
      default:
        return res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const url = `http://127.0.0.1:${port}`;
  const fake: FakeObmd = {
    url,
    adminToken,
    uri: (node) => `${url}/node/${node}`,
    calls,
    requests: [],
    nodeToken: (node) => tokens.get(node),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return fake;
}
