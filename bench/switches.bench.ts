/**
 * Port changes on every vendor switch emulator (test/support/switch-emulators),
 * through hil's own drivers, two ways in one run:
 *
 *  (a) hil's way: the N changes as one applyBatch on one session (one login,
 *      one save), as the networking worker hands a switch's queue to its
 *      driver;
 *  (b) upstream's way: one session per change (login, change, save, close),
 *      i.e. openSession + modifyPort (revertPort) + close for each change.
 *
 * Each round is two phases on the same N ports: every port given a native
 * VLAN of its own (101, 102, …), then every port reverted, so each round
 * ends where it began. A warm-up (not measured: (a) over every port, (b)
 * over the first) first takes the ports from the switch's factory state to
 * that state and warms the JIT and the SSH code. Rounds alternate which way goes first; times and the
 * commands (or HTTP requests) the emulator logged are medians over the
 * rounds, the ratio b ÷ a the median of the per-round ratios.
 *
 * The emulators run in this process and answer in microseconds; a real
 * switch takes tens to hundreds of ms per command, about a second to log in
 * and seconds to save. The table therefore also models each way on such a
 * switch: logins × --login-s + saves × --save-s + commands × --command-s.
 *
 *   npm run bench:switches [-- --ports 16 --rounds 3 --only nexus,os10 --login-s 1 --save-s 3 --command-s 0.1 --write-docs]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import type { PortChange, SwitchDriver, SwitchRecord } from '../src/drivers/switch/interface.ts';
import type { CliLog } from '../src/drivers/switch/cli/cli-session.ts';
import { memoryHostKeyStore } from '../src/drivers/switch/cli/host-keys.ts';
import { nexusSwitchDriver } from '../src/drivers/switch/nexus.ts';
import { powerconnectSwitchDriver } from '../src/drivers/switch/powerconnect.ts';
import { n3000SwitchDriver } from '../src/drivers/switch/n3000.ts';
import { os10SwitchDriver } from '../src/drivers/switch/os10.ts';
import { brocadeSwitchDriver } from '../src/drivers/switch/brocade.ts';
import { dellNos9SwitchDriver } from '../src/drivers/switch/dellnos9.ts';
import { VENDOR_FIXTURES } from '../test/support/switch-emulators/index.ts';
import type { RunningEmulator, VendorFixture } from '../test/support/switch-emulators/model.ts';
import { median } from './lib/measure.ts';
import { replaceDocsBlock, revision } from './lib/report.ts';
import { machineLine } from './lib/scale-report.ts';
import { ROOT } from './lib/servers.ts';

const { values } = parseArgs({
  options: {
    ports: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string' },
    'login-s': { type: 'string', default: '1' },
    'save-s': { type: 'string', default: '3' },
    'command-s': { type: 'string', default: '0.1' },
    'write-docs': { type: 'boolean', default: false },
  },
});
const PORTS = Number(values.ports);
const ROUNDS = Number(values.rounds);
const MODEL = { loginS: Number(values['login-s']), saveS: Number(values['save-s']), commandS: Number(values['command-s']) };
const ONLY = values.only ? new Set(values.only.split(',')) : null;
const FIRST_VLAN = 101;
const CREDS = { username: 'bench', password: 'bench-password' };
const log = (m: string) => process.stderr.write(`[switches bench] ${m}\n`);
const quiet: CliLog = { info() {}, warn() {} };

/** hil's drivers, as the catalog (src/drivers/switch/index.ts) builds them, with host keys in memory. */
function drivers(): SwitchDriver[] {
  const cli = { hostKeys: memoryHostKeyStore(), log: quiet };
  return [nexusSwitchDriver(cli), powerconnectSwitchDriver(cli), n3000SwitchDriver(cli), os10SwitchDriver(cli), brocadeSwitchDriver(), dellNos9SwitchDriver()];
}

type Way = 'a' | 'b';
type Phase = 'set' | 'revert';
const PHASES: Phase[] = ['set', 'revert'];

interface Sample {
  ms: number;
  /** Entries in the emulator's log: commands (SSH); HTTP request lines and the body lines logged with them (OS9: the CLI commands carried; VDX: the XML). */
  commands: number;
  /** HTTP request lines among them. */
  requests: number;
  /** Saves among them (`copy running-config startup-config`, `write memory`, OS9's `write`, the VDX's bna-config-cmd). */
  saves: number;
}

interface Cell {
  sessions: number;
  /** Logins on the switch: one per session over SSH; none over HTTP (every request authenticates). */
  logins: number;
  /** Saves the emulator saw (median over the rounds). */
  saves: number;
  rounds: Sample[];
  median: Sample;
  /** On a switch with MODEL's costs: logins × loginS + saves × saveS + the other commands (SSH) or requests (HTTP) × commandS. */
  modelledS: number;
}

interface Row {
  vendor: string;
  transport: 'ssh' | 'http';
  phase: Phase;
  changes: number;
  a: Cell;
  b: Cell;
  /** Median of the per-round b ÷ a. */
  ratio: number;
  modelledRatio: number;
}

function changesFor(phase: Phase, ports: string[]): PortChange[] {
  return ports.map((port, i) =>
    phase === 'set' ? { op: 'modify', port, channel: 'vlan/native', networkId: String(FIRST_VLAN + i) } : { op: 'revert', port },
  );
}

async function viaBatch(driver: SwitchDriver, sw: SwitchRecord, changes: PortChange[]): Promise<void> {
  const session = await driver.openSession(sw);
  try {
    await session.applyBatch!(changes);
  } finally {
    await session.close();
  }
}

async function viaSessionPerChange(driver: SwitchDriver, sw: SwitchRecord, changes: PortChange[]): Promise<void> {
  for (const c of changes) {
    const session = await driver.openSession(sw);
    try {
      if (c.op === 'modify') await session.modifyPort(c.port, c.channel, c.networkId);
      else await session.revertPort(c.port);
    } finally {
      await session.close();
    }
  }
}

/** Fails when a phase did not leave the ports as asked: a measurement of nothing would look fast. */
function check(e: RunningEmulator, phase: Phase, ports: string[], what: string): void {
  for (const [i, port] of ports.entries()) {
    const v = e.effective(port);
    const ok = phase === 'set' ? v.native === FIRST_VLAN + i && v.tagged.length === 0 : v.native === null && v.tagged.length === 0;
    if (!ok) throw new Error(`${e.vendor} (${what}, ${phase}): port ${port} forwards ${JSON.stringify(v)}`);
  }
}

const REQUEST = /^(GET|PUT|POST|PATCH|DELETE) \//;
const SAVE = /^(copy running-config startup-config|write( memory)?|POST \/rest\/operations\/bna-config-cmd)$/;

async function timed(e: RunningEmulator, work: () => Promise<void>): Promise<Sample> {
  const before = e.log.length;
  const t = performance.now();
  await work();
  const ms = performance.now() - t;
  const seen = e.log.slice(before);
  return { ms, commands: seen.length, requests: seen.filter((l) => REQUEST.test(l)).length, saves: seen.filter((l) => SAVE.test(l)).length };
}

async function benchVendor(fixture: VendorFixture, driver: SwitchDriver, id: number): Promise<Row[]> {
  const ports = fixture.ports.slice(0, PORTS);
  if (ports.length < PORTS) throw new Error(`${fixture.vendor}: the emulator has ${fixture.ports.length} ports, not ${PORTS}`);
  const e = await fixture.start({ ports: fixture.ports, ...CREDS });
  try {
    const sw: SwitchRecord = { id, label: `bench-${fixture.vendor}`, params: driver.params.parse(fixture.fields(e, CREDS)) };
    const run = (way: Way, phase: Phase, on = ports) => (way === 'a' ? viaBatch : viaSessionPerChange)(driver, sw, changesFor(phase, on));
    // Warm-up: (a) over every port (from the factory state to the reverted one), (b) over the first port.
    for (const [way, on] of [['a', ports], ['b', ports.slice(0, 1)]] as const) {
      for (const phase of PHASES) {
        await run(way, phase, on);
        check(e, phase, on, `warm-up ${way}`);
      }
    }
    const samples: Record<Way, Record<Phase, Sample[]>> = { a: { set: [], revert: [] }, b: { set: [], revert: [] } };
    for (let r = 0; r < ROUNDS; r++) {
      for (const way of r % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const)) {
        for (const phase of PHASES) {
          samples[way][phase].push(await timed(e, () => run(way, phase)));
          check(e, phase, ports, way);
        }
      }
      log(
        `${fixture.vendor}, round ${r + 1}: ` +
          PHASES.map((p) => `${p} a ${samples.a[p][r].ms.toFixed(1)} ms / b ${samples.b[p][r].ms.toFixed(1)} ms (${(samples.b[p][r].ms / samples.a[p][r].ms).toFixed(1)}×)`).join(', '),
      );
    }
    return PHASES.map((phase) => {
      const cell = (way: Way): Cell => {
        const rounds = samples[way][phase];
        const sessions = way === 'a' ? 1 : ports.length;
        const logins = fixture.transport === 'ssh' ? sessions : 0;
        const m = (f: (x: Sample) => number) => median(rounds.map(f));
        const med: Sample = { ms: m((x) => x.ms), commands: m((x) => x.commands), requests: m((x) => x.requests), saves: m((x) => x.saves) };
        if (med.saves !== sessions) throw new Error(`${fixture.vendor} (${way}, ${phase}): the emulator saw ${med.saves} saves, not one per session (${sessions})`);
        const units = fixture.transport === 'http' ? med.requests : med.commands;
        return { sessions, logins, saves: med.saves, rounds, median: med, modelledS: logins * MODEL.loginS + med.saves * MODEL.saveS + (units - med.saves) * MODEL.commandS };
      };
      const a = cell('a');
      const b = cell('b');
      return {
        vendor: fixture.vendor,
        transport: fixture.transport,
        phase,
        changes: ports.length,
        a,
        b,
        ratio: median(a.rounds.map((x, k) => b.rounds[k].ms / x.ms)),
        modelledRatio: b.modelledS / a.modelledS,
      };
    });
  } finally {
    await e.close();
  }
}

const ms = (x: number) => (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));
const s = (x: number) => (x < 10 ? x.toFixed(1) : x.toFixed(0));
const PHASE_WORDS: Record<Phase, string> = { set: 'native VLAN on', revert: 'reverted' };

function table(rows: Row[]): string {
  const lines = [
    '| vendor | changes | (a) one batch: ms | ms/change | the switch saw | (b) session per change: ms | ms/change | the switch saw | **b ÷ a** | modelled real switch: (a) / (b) s (b ÷ a) |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    const seen = (c: Cell) =>
      r.transport === 'ssh' ? `${c.median.commands} commands` : `${c.median.requests} requests${c.median.commands > c.median.requests ? ` (+${c.median.commands - c.median.requests} body lines)` : ''}`;
    lines.push(
      `| ${r.vendor} (${r.transport.toUpperCase()}) | ${r.changes} ports ${PHASE_WORDS[r.phase]} | ${ms(r.a.median.ms)} | ${ms(r.a.median.ms / r.changes)} | ${seen(r.a)} | ${ms(r.b.median.ms)} | ${ms(r.b.median.ms / r.changes)} | ${seen(r.b)} | **${r.ratio.toFixed(1)}×** | ${s(r.a.modelledS)} / ${s(r.b.modelledS)} (${r.modelledRatio.toFixed(1)}×) |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const machine = machineLine();
  const rev = revision(ROOT);
  const started = performance.now();
  log(machine);
  const fixtures = VENDOR_FIXTURES.filter((f) => !ONLY || ONLY.has(f.vendor));
  const all = drivers();
  const rows: Row[] = [];
  for (const [k, fixture] of fixtures.entries()) {
    const driver = all.find((d) => d.type === fixture.type);
    if (!driver) throw new Error(`no driver for ${fixture.type}`);
    rows.push(...(await benchVendor(fixture, driver, k + 1)));
  }
  const totalSeconds = (performance.now() - started) / 1000;
  const command = `npm run bench:switches${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`;
  const body = [
    `- **Machine:** ${machine}`,
    `- **Command:** \`${command}\` on commit ${rev} (${Math.round(totalSeconds)} s in all); each emulator in this process on 127.0.0.1, hil's driver with its default options; ` +
      `${PORTS} ports, set (port i gets native VLAN ${FIRST_VLAN} + i) then reverted; ${ROUNDS} rounds after a warm-up, the order of (a) and (b) alternating; times and counts are medians over the rounds, b ÷ a the median of the per-round ratios`,
    `- **(a)** one session, one \`applyBatch\` of the ${PORTS} changes, close: 1 login (SSH), 1 save; **(b)** per change \`openSession\` + \`modifyPort\` / \`revertPort\` + \`close\`: ${PORTS} logins (SSH), ${PORTS} saves`,
    `- **Modelled real switch:** logins × ${MODEL.loginS} s + saves × ${MODEL.saveS} s + every other command (SSH) or request (HTTP) × ${MODEL.commandS} s, with the counts the emulator saw (no login over HTTP: every request authenticates)`,
    '',
    table(rows),
  ].join('\n');
  console.log(`\n${body}\n`);
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `switches-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ machine, revision: rev, command, ports: PORTS, rounds: ROUNDS, model: MODEL, totalSeconds, rows }, null, 2) + '\n');
  console.log(`results: ${relative(ROOT, file)}`);
  if (values['write-docs']) {
    replaceDocsBlock(join(ROOT, 'docs', 'benchmarks.md'), {
      name: 'switches',
      command: 'npm run bench:switches -- --write-docs',
      heading: 'Vendor switches (emulated)',
      body: `${body}\n\n- **Raw figures:** \`${relative(ROOT, file)}\``,
    });
    log('updated docs/benchmarks.md');
  }
}

await main();
