/**
 * The FPBL's side of the agent protocol, played by a test against a HIL's
 * agent endpoint (its unix socket): reports, the boot script's token, the
 * held report whose answer is the next command, and waits on the node's
 * provisioning state through the API. For one node with one MAC.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatLines, parseLines } from '../../src/provisioning/agent-server.ts';
import type { Caller } from './hil.ts';

export interface AgentAnswer {
  status: number;
  fields: Record<string, string>;
  text: string;
}

export interface AgentCallOptions {
  token?: string;
  body?: Record<string, string>;
  timeoutMs?: number;
}

/** One HTTP exchange with the agent endpoint over its unix socket. */
export function agentCall(socket: string, method: string, path: string, o: AgentCallOptions = {}): Promise<AgentAnswer> {
  return new Promise((resolve, reject) => {
    const body = o.body ? formatLines(o.body) : undefined;
    const req = request({ socketPath: socket, method, path, headers: o.token ? { authorization: `Bearer ${o.token}` } : {}, timeout: o.timeoutMs ?? 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('latin1');
        resolve({ status: res.statusCode ?? 0, fields: parseLines(text), text });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

export interface ProvisioningStatus {
  state: string;
  phase: string;
  path: string | null;
  error: string | null;
  image: string | null;
  networks: Record<string, string>;
}

/** The FPBL of node `node` (NIC `mac`), as the tests play it; `admin` reads the node's state. */
export function fpblAgent(o: { socket: () => string; admin: () => Caller; node: string; mac: string }) {
  /** The FPBL's report of "wiped", held by HIL until there is something to do: its answer is the FPBL's next command. */
  let held: { token: string; answer: Promise<AgentAnswer> } | null = null;
  /** The blobs this FPBL holds (the `cache` command), sent with every report as a real agent does. */
  const cached = new Set<string>();
  const agent = (path: string, c: AgentCallOptions = {}) => agentCall(o.socket(), c.body ? 'POST' : 'GET', path, c);
  const report = (token: string, state: string, extra: Record<string, string> = {}) =>
    agent('/fpbl/v1/agent', { token, body: { agent: 'fpbl', state, mac: o.mac, ip: '10.128.0.57/24', boot_id: 'b1', uptime: '3.2', ...(cached.size ? { cached: [...cached].sort().join(',') } : {}), ...extra } });
  /** Does what a `cache` command says: forgets what it does not keep, fetches (and checks) what it names. */
  const applyCache = async (token: string, c: Record<string, string>) => {
    const keep = new Set(c.keep ? c.keep.split(',') : []);
    for (const h of [...cached]) if (!keep.has(h)) cached.delete(h);
    if (!c.fetch_url) return;
    const r = await agent(new URL(c.fetch_url).pathname, { token });
    assert.equal(r.status, 200, `${c.fetch_url}: ${r.text}`);
    assert.equal(createHash('sha256').update(Buffer.from(r.text, 'latin1')).digest('hex'), c.fetch_sha256);
    cached.add(c.fetch_sha256);
  };
  const status = async (node = o.node) => {
    const r = await o.admin()('GET', `/v0/node/${node}/provisioning`);
    assert.equal(r.status, 200, r.text);
    return r.body as ProvisioningStatus;
  };
  const until = async (what: string, check: () => Promise<boolean>, ms = 10_000) => {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(await status())}`);
      await sleep(20);
    }
  };
  const untilState = (state: string, phase?: string) =>
    until(`${state}/${phase ?? '*'}`, async () => {
      const s = await status();
      return s.state === state && (phase === undefined || s.phase === phase);
    });
  return {
    agent,
    report,
    cached,
    status,
    until,
    untilState,
    /** Reports "fresh" as a newly booted FPBL would and answers the wipe: the node ends ready. */
    async bootFpbl(token: string) {
      assert.equal((await report(token, 'fresh')).fields.command, 'wipe');
      // The answer to "wiped" is held while there is nothing to do: don't wait for it.
      const answer = report(token, 'wiped');
      answer.catch(() => {});
      held = { token, answer };
      await untilState('ready', 'idle');
    },
    /**
     * The FPBL's next command, as a real agent gets it: the answer to its held
     * report, or (that hold over with nothing to do) to its next "idle". A
     * second report beside the held one would be a second agent: both would
     * get a deploy, each with its own return token, and the last one written wins.
     */
    async nextCommand(token: string) {
      const pending = held?.token === token ? held.answer : null;
      held = null;
      let answer = pending && (await pending);
      if (!answer || answer.fields.command === 'none') answer = await report(token, 'idle');
      // A ready FPBL is told to fill its cache (prefetch.ts); a real one does that, then reports again.
      while (answer.fields.command === 'cache') {
        await applyCache(token, answer.fields);
        answer = await report(token, 'idle');
      }
      return answer;
    },
    /** PXE-boots the FPBL: the boot script carries the node's new token. */
    async pxeToken() {
      await untilState('booting-fpbl', 'pxe');
      const r = await agent(`/fpbl/v1/boot.ipxe?mac=${o.mac}`);
      assert.equal(r.status, 200, r.text);
      const token = /hil\.token=([0-9a-f]{64})/.exec(r.text)?.[1];
      assert.ok(token, r.text);
      assert.match(r.text, /^#!ipxe\nkernel http:\/\/10\.128\.0\.1\/fpbl\/v1\/fpbl\/vmlinuz /);
      return token;
    },
  };
}
