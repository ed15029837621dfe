/**
 * The FPBL agent and the return agent in a real lab node (QEMU, PXE through
 * the lab's dnsmasq and boot server, kexec inside the guest), against a
 * stand-in for HIL's provisioning endpoint written here from the contract
 * (docs/fast-provisioning.md): an HTTP server on a unix socket that the lab's
 * boot server forwards /fpbl/ to (`hil-lab up --fpbl-socket`).
 *
 * One node, one NIC on the provisioning VLAN, a 16 MiB disk filled with a
 * pattern. The stand-in:
 *   1. serves boot.ipxe (once, with token T1) and the FPBL;
 *   2. answers the first report with `wipe`: the disk must be all zeros;
 *   3. then `cache` twice: the example's kernel, then its initrd, into the
 *      FPBL's cache (each report after says what it holds);
 *   4. then a `deploy` whose kernel SHA-256 is wrong: `failed`, nothing loaded;
 *   5. then a good `deploy, then wait` of an example image (marker CUSTOMER-X,
 *      return token T2) that keeps only the kernel: the initrd is forgotten
 *      and downloaded, the kernel taken from the cache; its first `loaded`
 *      report is already waiting; `wait` twice more, then the endpoint goes
 *      away (the boot server answers 502): the agent kexecs into the example,
 *      which prints its marker under a new boot_id; no power event on the BMC;
 *   6. comes back; the return agent posts, gets `return` with the FPBL and
 *      token T3; the FPBL boots again (a third boot_id) and reports `fresh`
 *      with T3.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildExampleImage, buildFpbl, KEXEC, type FpblManifest } from '../../src/fpbl/build.ts';
import { missingSummary } from '../../src/lab/doctor.ts';
import { readState } from '../../src/lab/lab.ts';
import { labLayout, type LabLayout } from '../../src/lab/layout.ts';
import { nodeFiles } from '../../src/lab/qemu.ts';
import { vsctl } from '../../src/lab/switch.ts';
import { REPO, until } from '../support/processes.ts';
import { skipUnless } from '../support/require.ts';
import { formatLines, parseLines } from '../../src/provisioning/agent-server.ts';

const HIL_LAB = `${REPO}bin/hil-lab`;
const skip = skipUnless(missingSummary() ?? (existsSync(KEXEC) ? undefined : `${KEXEC} is missing (apt-get install kexec-tools)`));
const URL_BASE = 'http://10.128.0.1';
const DISK_BYTES = 16 * 1024 * 1024;
const MARKER = 'CUSTOMER-X';

interface Report {
  at: number;
  token: string;
  fields: Record<string, string>;
  forwardedFor: string;
  answer: string;
}

const newToken = () => randomBytes(32).toString('hex');

/** HIL's provisioning endpoint, reduced to this test's script. */
class Endpoint {
  readonly socket: string;
  readonly fpblDir: string;
  readonly exampleDir: string;
  readonly mac: string;
  readonly fpbl: FpblManifest;
  readonly tokens = { t1: newToken(), t2: newToken(), t3: newToken() };
  readonly reports: Report[] = [];
  readonly log: string[] = [];
  bootQueries: string[] = [];
  bootArmed = true;
  phase: 'wipe' | 'cache' | 'bad-deploy' | 'deploy' | 'gone' | 'return' | 'returned' = 'wipe';
  waits = 0;
  leftAt = 0;
  #server: Server | null = null;

  constructor(socket: string, fpblDir: string, exampleDir: string, mac: string) {
    this.socket = socket;
    this.fpblDir = fpblDir;
    this.exampleDir = exampleDir;
    this.mac = mac;
    this.fpbl = JSON.parse(readFileSync(join(fpblDir, 'fpbl.json'), 'utf8')) as FpblManifest;
  }

  listen(): Promise<void> {
    rmSync(this.socket, { force: true });
    const server = createServer((req, res) => this.#handle(req, res));
    this.#server = server;
    return new Promise((resolve) => server.listen(this.socket, resolve));
  }

  /** The node's NICs leave the provisioning network: nothing answers on the socket any more. */
  leave(): void {
    const server = this.#server!;
    this.#server = null;
    this.leftAt = Date.now();
    server.close();
    server.closeAllConnections();
  }

  close(): void {
    if (this.#server) this.leave();
  }

  #send(res: ServerResponse, status: number, body: string): void {
    res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
  }

  #file(res: ServerResponse, path: string): void {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': readFileSync(path).length });
    createReadStream(path).pipe(res);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://endpoint');
    const token = /^Bearer ([0-9a-f]{64})$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    this.log.push(`${req.method} ${req.url} token=${token.slice(0, 8)} xff=${req.headers['x-forwarded-for']}`);
    if (req.method === 'GET' && url.pathname === '/fpbl/v1/boot.ipxe') {
      this.bootQueries.push(url.search);
      const mac = (url.searchParams.get('mac') ?? '').toLowerCase();
      if (mac !== this.mac || !this.bootArmed) return this.#send(res, 404, 'no FPBL boot expected for this MAC\n');
      this.bootArmed = false;
      return this.#send(
        res,
        200,
        `#!ipxe\nkernel ${URL_BASE}/fpbl/v1/fpbl/vmlinuz initrd=initrd.img console=ttyS0,115200 quiet hil.url=${URL_BASE} hil.token=${this.tokens.t1} hil.mac=${mac}\ninitrd ${URL_BASE}/fpbl/v1/fpbl/initrd.img\nboot\n`,
      );
    }
    if (req.method === 'GET' && (url.pathname === '/fpbl/v1/fpbl/vmlinuz' || url.pathname === '/fpbl/v1/fpbl/initrd.img')) {
      return this.#file(res, join(this.fpblDir, url.pathname.slice('/fpbl/v1/fpbl/'.length)));
    }
    if (req.method === 'GET' && (url.pathname === '/fpbl/v1/payload/kernel' || url.pathname === '/fpbl/v1/payload/initrd')) {
      if (token !== this.tokens.t1) return this.#send(res, 401, 'bad token\n');
      return this.#file(res, join(this.exampleDir, url.pathname.endsWith('kernel') ? 'vmlinuz' : 'initrd.img'));
    }
    const blob = /^\/fpbl\/v1\/blob\/([0-9a-f]{64})$/.exec(url.pathname);
    if (req.method === 'GET' && blob) {
      if (token !== this.tokens.t1) return this.#send(res, 401, 'bad token\n');
      const name = ['vmlinuz', 'initrd.img'].find((n) => createHashHex(join(this.exampleDir, n)) === blob[1]);
      return name ? this.#file(res, join(this.exampleDir, name)) : this.#send(res, 404, 'no such blob\n');
    }
    if (req.method === 'POST' && url.pathname === '/fpbl/v1/agent') {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        const fields = parseLines(body);
        const ok = fields.agent === 'return' ? token === this.tokens.t2 : [this.tokens.t1, this.tokens.t3].includes(token);
        if (!ok) return this.#send(res, 401, 'bad token\n');
        const answer = formatLines(this.#decide(fields, token));
        this.reports.push({ at: Date.now(), token, fields, forwardedFor: String(req.headers['x-forwarded-for'] ?? ''), answer });
        this.#send(res, 200, answer);
        if (this.phase === 'gone' && this.#server) res.once('finish', () => this.leave());
      });
      return;
    }
    this.#send(res, 404, 'not here\n');
  }

  #decide(f: Record<string, string>, token: string): Record<string, string> {
    const example = (name: string) => createHashHex(join(this.exampleDir, name));
    if (f.agent === 'return') {
      // Again after it was answered, as HIL does: under load the answer can outlive the agent's 2 s timeout.
      if (f.state === 'running' && (this.phase === 'return' || this.phase === 'returned')) {
        this.phase = 'returned';
        return {
          command: 'return',
          kernel_url: `${URL_BASE}/fpbl/v1/fpbl/vmlinuz`,
          kernel_sha256: this.fpbl.kernel_sha256,
          initrd_url: `${URL_BASE}/fpbl/v1/fpbl/initrd.img`,
          initrd_sha256: this.fpbl.initrd_sha256,
          cmdline: `console=ttyS0,115200 quiet hil.url=${URL_BASE} hil.token=${this.tokens.t3} hil.mac=${this.mac}`,
        };
      }
      return { command: 'none' };
    }
    if (token === this.tokens.t3) return { command: 'none' }; // the FPBL, back again
    const [kernel, initrd] = [example('vmlinuz'), example('initrd.img')];
    const cache = (sha: string, keep: string[]) => ({ command: 'cache', keep: keep.join(','), fetch_url: `${URL_BASE}/fpbl/v1/blob/${sha}`, fetch_sha256: sha, fetch_size: '1' });
    const deploy = (kernelSha: string) => ({
      command: 'deploy',
      then: 'wait',
      keep: kernel,
      kernel_url: `${URL_BASE}/fpbl/v1/payload/kernel`,
      kernel_sha256: kernelSha,
      initrd_url: `${URL_BASE}/fpbl/v1/payload/initrd`,
      initrd_sha256: example('initrd.img'),
      cmdline: `${readFileSync(join(this.exampleDir, 'cmdline'), 'utf8').trim()} hil.url=${URL_BASE} hil.token=${this.tokens.t2} hil.mac=${this.mac} hil.ip=${f.ip}`,
    });
    switch (this.phase) {
      case 'wipe':
        if (f.state === 'wiped') {
          this.phase = 'cache';
          return cache(kernel, [kernel]);
        }
        return { command: 'wipe' };
      case 'cache':
        if (f.cached === kernel) return cache(initrd, [kernel, initrd]);
        if (f.cached !== [kernel, initrd].sort().join(',')) return { command: 'none' };
        this.phase = 'bad-deploy';
        return { ...deploy('0'.repeat(64)), keep: [kernel, initrd].join(',') };
      case 'bad-deploy':
        if (f.state !== 'failed') return { command: 'none' };
        this.phase = 'deploy';
        return deploy(example('vmlinuz'));
      case 'deploy':
        if (f.state !== 'loaded') return { command: 'none' };
        if (++this.waits >= 3) this.phase = 'gone';
        return { command: 'wait' };
      default:
        return { command: 'none' };
    }
  }
}

const hashes = new Map<string, string>();
function createHashHex(path: string): string {
  if (!hashes.has(path)) hashes.set(path, spawnSync('sha256sum', [path], { encoding: 'utf8' }).stdout.split(' ')[0]);
  return hashes.get(path)!;
}

describe('FPBL agent and return agent in a lab node', { skip }, () => {
  let tmp: string;
  let labDir: string;
  let layout: LabLayout;
  let endpoint: Endpoint;
  let mac: string;
  let files: ReturnType<typeof nodeFiles>;
  let poweredOnAt = 0;
  const consoleText = () => (existsSync(files.console) ? readFileSync(files.console, 'latin1') : '');
  const lab = (...args: string[]) => spawnSync(HIL_LAB, [...args, '--dir', labDir], { encoding: 'utf8', timeout: 120_000 });
  const reportsWith = (pred: (r: Report) => boolean) => endpoint.reports.filter(pred);
  const show = () => `\n--- console ---\n${consoleText().slice(-6000)}\n--- endpoint ---\n${endpoint.log.slice(-40).join('\n')}`;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'hil-fpbl-'));
    labDir = join(tmp, 'lab');
    buildFpbl(join(tmp, 'fpbl'));
    buildExampleImage(join(tmp, 'example'), MARKER);
    const sock = join(tmp, 'fpbl.sock');
    const r = lab('up', '--no-register', '--nodes', '1', '--nics', '1', '--memory', '384', '--disk-mib', '16', '--fpbl-socket', sock);
    assert.equal(r.status, 0, r.stderr);
    layout = labLayout(readState(labDir)!.spec);
    const node = layout.nodes[0];
    mac = node.nics[0].mac;
    files = nodeFiles(node.dir);
    endpoint = new Endpoint(sock, join(tmp, 'fpbl'), join(tmp, 'example'), mac);
    await endpoint.listen();
  });

  after(() => {
    endpoint?.close();
    if (labDir && existsSync(labDir)) lab('down');
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('lab up --disk-mib/--fpbl-socket: a sparse disk per node, boot.ipxe chains to /fpbl/, lab.json and status show both', () => {
    const state = readState(labDir)!;
    assert.equal(state.spec.diskMiB, 16);
    assert.equal(state.spec.fpblSocket, join(tmp, 'fpbl.sock'));
    assert.equal(readFileSync(files.disk).length, DISK_BYTES);
    assert.equal(readFileSync(join(layout.bootDir, 'boot.ipxe'), 'utf8'), '#!ipxe\nchain http://10.128.0.1/fpbl/v1/boot.ipxe?mac=${netX/mac} || echo hil-lab: HIL has no FPBL boot for ${netX/mac}\n');
    const s = lab('status', '--json');
    const status = JSON.parse(s.stdout);
    assert.equal(status.diskMiB, 16);
    assert.equal(status.memoryMiB, 384);
    assert.equal(status.provisioning.fpblSocket, join(tmp, 'fpbl.sock'));
  });

  it('PXE-boots the FPBL, which wipes the disk, refuses a wrong checksum, kexecs into the image once off the network, and comes back', { timeout: 400_000 }, async () => {
    const node = layout.nodes[0];
    // The disk holds a previous tenant's data.
    writeFileSync(files.disk, Buffer.alloc(DISK_BYTES, 'previous-tenant-data/'));
    // The NIC on the provisioning VLAN, as HIL's provisioning network would put it.
    const tap = node.nics[0].tap;
    vsctl(layout, 'set', 'port', tap, 'vlan_mode=access', `tag=${layout.spec.provisioningVlan}`, 'protected=false', '--', 'clear', 'port', tap, 'trunks');
    const state = readState(labDir)!;
    const ipmi = (...args: string[]) => {
      const r = spawnSync('ipmitool', ['-I', 'lanplus', '-C', '3', '-H', '127.0.0.1', '-p', String(node.bmcPort), '-U', state.bmc.user, '-E', ...args], {
        env: { ...process.env, IPMI_PASSWORD: state.bmc.password },
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(r.status, 0, r.stderr);
    };
    // With a disk that holds no boot sector, booting from disk still ends where it did without one.
    ipmi('chassis', 'bootdev', 'disk');
    ipmi('chassis', 'power', 'on');
    await until('the firmware to find nothing to boot', async () => consoleText().includes('No bootable device'), 60_000).catch((e) => assert.fail(`${e.message}${show()}`));
    ipmi('chassis', 'power', 'off');
    const eventsBefore = readFileSync(files.events, 'utf8').split('\n').filter(Boolean).length;

    // When did lines first show up on the console (polled; to measure the kexecs).
    const firstSeen = new Map<string, number>();
    const watched = ['hil-agent: kexec -e now', `hil-example: ${MARKER} booted`, 'hil-return: kexec -e now'];
    const poll = setInterval(() => {
      const t = consoleText();
      for (const w of watched) if (!firstSeen.has(w) && t.includes(w)) firstSeen.set(w, Date.now());
    }, 50);
    after(() => clearInterval(poll));

    ipmi('chassis', 'bootdev', 'pxe');
    ipmi('chassis', 'power', 'on');
    poweredOnAt = Date.now();

    // 1. The FPBL boots and reports fresh, with T1, from its DHCP address.
    const fresh = await until('the FPBL to report fresh', async () => endpoint.reports.find((r) => r.fields.state === 'fresh'), 150_000).catch((e) => assert.fail(`${e.message}${show()}`));
    const firstReportS = (fresh.at - poweredOnAt) / 1000;
    const b1 = fresh.fields.boot_id;
    assert.equal(fresh.token, endpoint.tokens.t1);
    assert.equal(fresh.fields.agent, 'fpbl');
    assert.equal(fresh.fields.mac, mac);
    assert.match(fresh.fields.ip, /^10\.128\.0\.\d+\/24$/);
    assert.equal(fresh.forwardedFor, fresh.fields.ip.split('/')[0], 'the boot server adds x-forwarded-for');
    assert.match(b1, /^[0-9a-f-]{36}$/);
    assert.match(consoleText(), new RegExp(`hil-fpbl: booted boot_id=${b1} `));
    assert.equal(endpoint.bootQueries.length, 1, `boot.ipxe asked for once: ${endpoint.bootQueries.join(' ')}`);

    // 2. wipe: the disk is zero, all of it.
    await until('the agent to report wiped', async () => endpoint.reports.some((r) => r.fields.state === 'wiped'), 60_000).catch((e) => assert.fail(`${e.message}${show()}`));
    const disk = readFileSync(files.disk);
    assert.equal(disk.length, DISK_BYTES);
    assert.equal(disk.findIndex((b) => b !== 0), -1, 'the disk is all zeros after wipe');

    // 3. cache: the kernel, then the initrd; each report after says what the FPBL holds.
    const kernelSha = createHashHex(join(endpoint.exampleDir, 'vmlinuz'));
    const initrdSha = createHashHex(join(endpoint.exampleDir, 'initrd.img'));
    await until('the agent to hold both', async () => endpoint.reports.some((r) => r.fields.cached === [kernelSha, initrdSha].sort().join(',')), 60_000).catch((e) => assert.fail(`${e.message}${show()}`));
    assert.ok(endpoint.reports.some((r) => r.fields.cached === kernelSha), 'the kernel alone first');
    assert.equal(endpoint.log.filter((l) => l.startsWith('GET /fpbl/v1/blob/')).length, 2, endpoint.log.join('\n'));

    // 4. The deploy with a wrong kernel checksum fails, and loads nothing.
    const failed = await until('the agent to report failed', async () => endpoint.reports.find((r) => r.fields.state === 'failed'), 90_000).catch((e) => assert.fail(`${e.message}${show()}`));
    assert.match(failed.fields.error, /kernel sha256 mismatch: expected 0{64}, got [0-9a-f]{64}/);
    assert.equal(failed.fields.boot_id, b1);
    await until('the console to say why', async () => consoleText().includes('hil-agent: failed: kernel sha256 mismatch'), 10_000);
    const upToFailure = consoleText().slice(0, consoleText().indexOf('hil-agent: failed: kernel sha256 mismatch'));
    assert.doesNotMatch(upToFailure.slice(upToFailure.lastIndexOf('hil-agent: command: deploy')), /kexec -l|deploy: loaded/, 'nothing was loaded for the bad deploy');

    // 5. The good deploy, then wait: loaded (and waiting), wait, wait, gone → kexec -e into the example.
    const loaded = await until('the agent to report loaded', async () => endpoint.reports.find((r) => r.fields.state === 'loaded'), 120_000).catch((e) => assert.fail(`${e.message}${show()}`));
    assert.equal(loaded.fields.waiting, '1', '"then=wait": the first loaded report is already waiting');
    assert.equal(loaded.fields.cached, kernelSha, 'the initrd, not in the deploy\'s keep, was forgotten');
    const good = consoleText().slice(consoleText().lastIndexOf('hil-agent: command: deploy'));
    assert.match(good, new RegExp(`hil-agent: cache: forgot ${initrdSha}`));
    assert.match(good, /hil-agent: deploy: the kernel is in the cache/);
    assert.match(good, /hil-agent: deploy: downloading the initrd/);
    assert.equal(endpoint.log.filter((l) => l.startsWith('GET /fpbl/v1/payload/kernel')).length, 1, 'the kernel downloaded for the bad deploy only');
    const example = await until('the example image to print its marker', async () => new RegExp(`hil-example: ${MARKER} booted boot_id=([0-9a-f-]{36}) uptime=([\\d.]+)`).exec(consoleText()) ?? undefined, 90_000).catch((e) => assert.fail(`${e.message}${show()}`));
    const markerAt = Date.now();
    const [, b2, exampleUptime] = example;
    assert.notEqual(b2, b1, 'a new kernel: kexec happened');
    assert.equal(endpoint.waits, 3);
    const fpblReports = reportsWith((r) => r.fields.agent === 'fpbl' && r.token === endpoint.tokens.t1);
    assert.ok(fpblReports.every((r) => r.fields.boot_id === b1), 'the FPBL never rebooted before the kexec');
    assert.ok(fpblReports.every((r) => r.at <= endpoint.leftAt), 'no FPBL report after the endpoint went away');
    const text = consoleText();
    assert.match(text, /hil-agent: report 3 of 3 failed while waiting: .*502/);
    assert.ok(text.indexOf('hil-agent: kexec -e now') < text.indexOf(`hil-example: ${MARKER} booted`));
    await until('the example to write its disk', async () => consoleText().includes('hil-example: wrote disk'), 20_000);
    assert.match(consoleText(), /hil-example: disk before: \r?\n/, 'the example found the disk empty');
    assert.equal(readFileSync(files.disk).subarray(0, 27).toString(), `hil-example-data:${MARKER}`);
    // No power event since the power-on: the deploy was a kexec, not a reboot.
    const events = () => readFileSync(files.events, 'utf8').split('\n').filter(Boolean).slice(eventsBefore);
    const powerEvents = events().filter((l) => / (powered|set power|set reset|set shutdown)/.test(l));
    assert.equal(powerEvents.filter((l) => l.includes('powered on')).length, 1, events().join('\n'));
    assert.ok(!powerEvents.some((l) => /powered off|set power 0|set reset|set shutdown/.test(l)), events().join('\n'));

    // 6. Back on the network: the return agent gets `return`, the FPBL boots again with T3.
    endpoint.phase = 'return';
    await endpoint.listen();
    const returned = await until('the FPBL to report fresh with the new token', async () => endpoint.reports.find((r) => r.token === endpoint.tokens.t3 && r.fields.agent === 'fpbl'), 120_000).catch((e) => assert.fail(`${e.message}${show()}`));
    const b3 = returned.fields.boot_id;
    assert.equal(returned.fields.state, 'fresh');
    assert.ok(b3 !== b1 && b3 !== b2, 'a third kernel');
    assert.match(consoleText(), new RegExp(`hil-fpbl: booted boot_id=${b3} `));
    const ret = reportsWith((r) => r.fields.agent === 'return');
    assert.ok(ret.some((r) => r.fields.state === 'running' && r.fields.boot_id === b2 && r.fields.mac === mac && r.token === endpoint.tokens.t2));
    assert.ok(ret.some((r) => r.fields.state === 'returning' && r.fields.boot_id === b2), 'the return agent said it was returning');
    assert.match(consoleText(), /hil-return: kexec -e now/);
    assert.equal(events().filter((l) => / (powered|set power|set reset)/.test(l)).length, powerEvents.length, 'still no power event');

    const since = (a: string, b: string) => ((firstSeen.get(b)! - firstSeen.get(a)!) / 1000).toFixed(1);
    const leftToMarker = (markerAt - endpoint.leftAt) / 1000;
    const loadedToLeft = (endpoint.leftAt - loaded.at) / 1000;
    console.log(
      `# timings: power-on → first FPBL report ${firstReportS.toFixed(1)} s (FPBL uptime ${fresh.fields.uptime} s); ` +
        `loaded → endpoint gone ${loadedToLeft.toFixed(1)} s; endpoint gone → example marker ${leftToMarker.toFixed(1)} s (example uptime ${exampleUptime} s); ` +
        `kexec -e → example marker ≈ ${since(watched[0], watched[1])} s (console polled every 50 ms); ` +
        `return → FPBL fresh ${((returned.at - ret.find((r) => r.fields.state === 'returning')!.at) / 1000).toFixed(1)} s (uptime ${returned.fields.uptime} s); ` +
        `boot.ipxe query ${endpoint.bootQueries[0]}`,
    );
  });
});
