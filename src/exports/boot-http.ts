/**
 * The boot network's HTTP server, on the storage host's address there:
 *
 *   GET /boot.ipxe                     → chains to the asking NIC's script
 *   GET /boot/<mac>/script.ipxe        → that node's script (boot-scripts.ts)
 *   GET /boot/<mac>/vmlinuz, initrd.img → the kernel and initrd it names
 *   GET /boot/<mac>/deployed           → "jump" once a deploy by kexec has
 *                                        moved every NIC of that node (a 409
 *                                        until then): the FPBL asks it
 *                                        instead of inferring the move
 *   /fpbl/v1/agent, /fpbl/v1/fpbl/*     → relayed to the provisioning agent
 *                                        endpoint (agent-relay.ts), for the
 *                                        return agent of a diskless OS
 *
 * Plain HTTP without tokens, as PXE is: only the project's own nodes are on
 * this network, and each MAC is answered only if it is one of them. A node
 * can read a sibling's script (and its CHAP secret) by asking with its MAC;
 * both belong to the same tenant (docs/images.md, trust model).
 */
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { NodeBootFiles } from './boot-scripts.ts';
import { isRelayed, relayToAgentEndpoint } from './agent-relay.ts';

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export interface BootHttpSpec {
  address: string;
  port: number;
  /** The node's script and files; undefined: not a node of this network. */
  filesOf(mac: string): Promise<NodeBootFiles | undefined>;
  /** Whether the node with this boot MAC has been deployed by kexec (its NICs all moved); undefined: not a node of this network. */
  deployed(mac: string): Promise<boolean | undefined>;
  /** Opens a blob by its hash. */
  open(sha256: string): Promise<NodeJS.ReadableStream & { destroy(): void }>;
  onError(err: Error): void;
  /** `[provisioning] listen`, where agent-relay.ts passes a returning node's requests; absent: none are. */
  agentEndpoint?: string;
}

export async function startBootHttp(spec: BootHttpSpec): Promise<Server> {
  const base = `http://${spec.address}:${spec.port}`;
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', base).pathname;
    const text = (status: number, body: string) => res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
    if (spec.agentEndpoint && isRelayed(req.method, path)) return relayToAgentEndpoint(req, res, spec.agentEndpoint);
    if (req.method !== 'GET' && req.method !== 'HEAD') return void text(405, 'GET only\n');
    // ${netX/mac}: the NIC iPXE last opened, the one that got this script's URL by DHCP.
    if (path === '/boot.ipxe') return void text(200, `#!ipxe\nchain ${base}/boot/\${netX/mac}/script.ipxe\n`);
    const m = /^\/boot\/([^/]+)\/(script\.ipxe|vmlinuz|initrd\.img|deployed)$/.exec(path);
    // iPXE percent-encodes what it expands into a URL: ${netX/mac} arrives as 52%3A54%3A….
    const mac = m?.[1] && decodedSegment(m[1])?.toLowerCase();
    if (!m || !mac || !MAC.test(mac)) return void text(404, 'no such file\n');
    if (m[2] === 'deployed') {
      return void spec.deployed(mac).then(
        (yes) => (yes === undefined ? text(404, `${mac} boots from no disk on this network\n`) : text(yes ? 200 : 409, yes ? 'jump\n' : 'not yet\n')),
        (err: Error) => (spec.onError(err), text(500, 'the boot server failed; see its log\n')),
      );
    }
    spec
      .filesOf(mac)
      .then(async (files) => {
        if (!files) return void text(404, `${mac} boots from no disk on this network\n`);
        if (m[2] === 'script.ipxe') return void text(200, files.script);
        const sha = m[2] === 'vmlinuz' ? files.kernel : files.initrd;
        if (!sha) return void text(404, 'this node boots by sanboot: no kernel\n');
        const stream = await spec.open(sha);
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        if (req.method === 'HEAD') {
          stream.destroy();
          return void res.end();
        }
        stream.pipe(res);
      })
      .catch((err: Error) => {
        spec.onError(err);
        if (!res.headersSent) text(500, 'the boot server failed; see its log\n');
        else res.destroy();
      });
  });
  server.listen(spec.port, spec.address);
  await once(server, 'listening');
  return server;
}

/** A path segment with its percent-escapes decoded; undefined when they are malformed. */
function decodedSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
