/**
 * Where a server's CPU time goes, by part of the request path: V8 CPU
 * profiles from `npm run bench -- --cpu-prof`, one column per profile.
 *
 *   node bench/prof-breakdown.ts PROFILE... [--from S] [--requests N,...] [--detail PART [--top 15]]
 *
 * Each sample is charged to the innermost frame of its stack that belongs to
 * a part (PARTS below): time in a library or in generated code (ajv's
 * validators, fast-json-stringify's serialisers) goes to whatever part called
 * it. Module loading and idle time are left out. `--from S` skips the first S
 * seconds of every profile (hil-null's begins with populating the database
 * and the networking cycles); `--requests` gives how many requests each
 * server answered in that time (the bench's results JSON has them per round,
 * plus the warm-up), and turns each part into µs of the main thread per
 * request;
 * `--detail PART` lists the functions (self time) a part's time was spent in
 * (PART: a piece of its name, e.g. "logging" or "other").
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Parts of the request path, tried in this order on each frame. */
const PARTS: Array<[string, (f: CallFrame) => boolean]> = [
  ['(startup: module loading)', (f) => /node:internal\/modules|^wasm:|amaro/.test(f.url) || f.functionName === 'compileSourceTextModule'],
  ['garbage collection', (f) => f.functionName === '(garbage collector)'],
  ['logging (pino, child loggers)', (f) => /\/node_modules\/(pino|@pinojs)\/|\/src\/log\.ts$|fastify\/lib\/logger/.test(f.url)],
  ['response serialisation', (f) => /fast-json-stringify/.test(f.url) || (/fastify\/lib\/reply\.js$/.test(f.url) && /^serialize/.test(f.functionName))],
  ['request validation (ajv)', (f) => /\/node_modules\/ajv\/|ajv-compiler|fastify\/lib\/validation\.js$/.test(f.url)],
  ['routing (find-my-way, rewriteUrl)', (f) => /find-my-way/.test(f.url) || f.functionName === 'rewritePortUrl' || f.functionName === 'rewriteUrl'],
  ['request id (randomUUID)', (f) => /node:internal\/crypto\/random/.test(f.url) || f.functionName === 'genReqId'],
  ['authentication', (f) => /\/src\/core\/auth\//.test(f.url)],
  ['hooks (argument binding, x-request-id, the auth hook itself)', (f) => /\/src\/api\/(binding|app)\.ts$/.test(f.url)],
  ['database (SQLite, statement cache)', (f) => /\/src\/store\/|node:sqlite/.test(f.url) || (f.url === '' && ['all', 'get', 'run', 'iterate'].includes(f.functionName))],
  ['use case (showNode, lists)', (f) => /\/src\/core\//.test(f.url)],
  ['route handler wrapper', (f) => /\/src\/api\/route\.ts$/.test(f.url)],
  ['baseline handler', (f) => /\/bench\/baseline-server\.ts$/.test(f.url)],
  ['Fastify request lifecycle', (f) => /\/node_modules\/(fastify|avvio|light-my-request)\//.test(f.url)],
  ['HTTP parsing and socket writes (Node)', (f) => /node:(_http|net|internal\/streams|internal\/stream_base|stream|internal\/http)/.test(f.url) || f.functionName === 'writev' || f.functionName === 'writeUtf8String' || f.functionName === 'writeLatin1String'],
  ['promises and ticks (Node)', (f) => /node:internal\/process\/task_queues/.test(f.url) || f.functionName === 'runMicrotasks'],
];
const IDLE = new Set(['(idle)', '(program)']);
const OTHER = '(other)';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { from: { type: 'string', default: '0' }, requests: { type: 'string' }, detail: { type: 'string' }, top: { type: 'string', default: '15' } },
});
if (!positionals.length) {
  console.error('usage: node bench/prof-breakdown.ts PROFILE... [--from S] [--requests N,...] [--detail PART [--top N]]');
  process.exit(2);
}
const fromUs = Number(values.from) * 1e6;
const requests = values.requests?.split(',').map(Number);

interface Column {
  name: string;
  busy: number;
  parts: Map<string, number>;
  /** Self time by function, for --detail. */
  detail: Map<string, number>;
}

function breakdown(file: string): Column {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const partOf = new Map<number, string>(); // node id → part of its innermost matching frame
  const resolve = (id: number): string => {
    const known = partOf.get(id);
    if (known !== undefined) return known;
    const f = byId.get(id)!.callFrame;
    const own = PARTS.find(([, test]) => test(f))?.[0];
    const up = parent.get(id);
    const part = own ?? (up === undefined ? OTHER : resolve(up));
    partOf.set(id, part);
    return part;
  };
  const col: Column = { name: basename(file, '.cpuprofile'), busy: 0, parts: new Map(), detail: new Map() };
  let t = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i] ?? 0;
    t += dt;
    if (t < fromUs) continue;
    const node = byId.get(prof.samples[i])!;
    if (IDLE.has(node.callFrame.functionName)) continue;
    const part = resolve(node.id);
    if (part.startsWith('(startup')) continue;
    col.busy += dt;
    col.parts.set(part, (col.parts.get(part) ?? 0) + dt);
    if (values.detail && part.includes(values.detail)) {
      const f = node.callFrame;
      const k = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|bench)\//, '$1/')}:${f.lineNumber + 1}`;
      col.detail.set(k, (col.detail.get(k) ?? 0) + dt);
    }
  }
  return col;
}

const cols = positionals.map(breakdown);
const names = [...PARTS.map(([n]) => n).filter((n) => !n.startsWith('(startup')), OTHER].filter((n) => cols.some((c) => c.parts.has(n)));
const cell = (c: Column, i: number, part: string) => {
  const us = c.parts.get(part) ?? 0;
  const share = us / c.busy;
  return requests ? `${(us / requests[i]).toFixed(1)} µs (${(100 * share).toFixed(1)} %)` : `${(us / 1000).toFixed(0)} ms (${(100 * share).toFixed(1)} %)`;
};
console.log(`| part | ${cols.map((c) => c.name).join(' | ')} |`);
console.log(`|---|${cols.map(() => '---:').join('|')}|`);
for (const part of names) console.log(`| ${part} | ${cols.map((c, i) => cell(c, i, part)).join(' | ')} |`);
console.log(`| **busy** | ${cols.map((c, i) => (requests ? `${(c.busy / requests[i]).toFixed(1)} µs` : `${(c.busy / 1000).toFixed(0)} ms`)).join(' | ')} |`);
if (values.detail) {
  for (const c of cols) {
    console.log(`\n${c.name}: where "${values.detail}" went (self time)`);
    for (const [k, v] of [...c.detail].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) console.log(`${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`);
  }
}
