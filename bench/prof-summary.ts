/**
 * Summarises a V8 CPU profile (from `npm run bench -- --cpu-prof`): where the
 * busy time went, by package and by function, self and inclusive.
 *
 *   node bench/prof-summary.ts bench/results/prof-<timestamp>/<file>.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
if (positionals.length !== 1) {
  console.error('usage: node bench/prof-summary.ts FILE.cpuprofile [--top N]');
  process.exit(2);
}
const top = Number(values.top);
const prof = JSON.parse(readFileSync(positionals[0], 'utf8')) as Profile;

const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const IDLE = new Set(['(idle)', '(program)', '(garbage collector)']);

function packageOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  if (url.startsWith('node:')) return 'node: ' + url.slice(5).split('/')[0];
  const src = /\/(src|bench)\/(.*)$/.exec(url);
  if (src) return `${src[1]}/${src[2].split('/')[0]}`;
  return url;
}

function keyOf(n: ProfileNode): string {
  const f = n.callFrame;
  const where = f.url ? `${f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|bench)\//, '$1/')}:${f.lineNumber + 1}` : '';
  return `${f.functionName || '(anonymous)'} ${where}`.trim();
}

let total = 0;
let idle = 0;
const self = new Map<string, number>();
const inclusive = new Map<string, number>();
const pkgSelf = new Map<string, number>();
const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);

for (let i = 0; i < prof.samples.length; i++) {
  const dt = prof.timeDeltas[i] ?? 0;
  const node = byId.get(prof.samples[i])!;
  total += dt;
  if (IDLE.has(node.callFrame.functionName) && node.callFrame.functionName !== '(garbage collector)') {
    idle += dt;
    continue;
  }
  add(self, keyOf(node), dt);
  add(pkgSelf, packageOf(node.callFrame.url, node.callFrame.functionName), dt);
  const seen = new Set<string>();
  for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
    const k = keyOf(byId.get(id)!);
    if (!seen.has(k)) {
      seen.add(k);
      add(inclusive, k, dt);
    }
  }
}

const busy = total - idle;
const fmt = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / busy).toFixed(1).padStart(5)} %`;
const print = (title: string, m: Map<string, number>, n: number) => {
  console.log(`\n${title}`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${fmt(v)}  ${k}`);
};

console.log(`profile: ${(total / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s (percentages are of busy time)`);
print('self time by package', pkgSelf, top);
print('self time by function', self, top);
print('inclusive time by function', inclusive, top);
