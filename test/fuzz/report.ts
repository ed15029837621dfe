/** A fuzz session's outcome as text: the summary, then each failure class with its smallest request and the answer. */
import { abbreviate, toCurl } from './requests.ts';
import type { Example, SessionReport } from './session.ts';

function example(e: Example, indent = '    '): string {
  const a = e.answer;
  const lines = [
    `${indent}${e.req.via === 'socket' ? 'raw' : e.req.method} ${abbreviate(a.url, 200)}   (as ${e.req.as}; run ${e.index})`,
    `${indent}${toCurl({ ...e.req, url: a.url })}`,
    `${indent}→ ${a.failure ?? `${a.status} ${abbreviate(a.text, 300)}`}`,
  ];
  return lines.join('\n');
}

export function summary(r: SessionReport): string {
  const statuses = [...r.statuses.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ');
  return [
    `${r.database}: seed ${r.seed}, ${r.sent} requests in ${(r.surveyMs / 1000).toFixed(1)} s (setup ${(r.setupMs / 1000).toFixed(1)} s; ${(r.totalMs / 1000).toFixed(1)} s in all, with the checks and shrinking)`,
    `  statuses: ${statuses}`,
    `  failure classes: ${r.failures.size}; invariant violations: ${r.violations.length}; callers restored ${r.repairs} times`,
  ].join('\n');
}

export function details(r: SessionReport): string {
  const out: string[] = [];
  for (const cls of r.failures.values()) {
    const routes = [...cls.routes];
    out.push(`\n✗ ${cls.name}\n  ${cls.count}× on ${routes.length} route(s): ${routes.slice(0, 6).join(', ')}${routes.length > 6 ? ', …' : ''}`);
    out.push(cls.shrunk ? `  smallest found:\n${example(cls.shrunk)}` : `  first seen (shrinking did not reproduce it):\n${example(cls.first)}`);
    if (cls.shrunk) out.push(`  first seen:\n${example(cls.first)}`);
  }
  if (r.violations.length) out.push(`\n✗ invariants after the run:\n${r.violations.map((v) => `  ${v}`).join('\n')}`);
  if (r.documented5xx.size) {
    out.push('\ndocumented 5xx (allowed; judge them):');
    for (const [cls, { count, routes, example: e }] of r.documented5xx) out.push(`  ${count}× ${cls} on ${[...routes].join(', ')}\n${example(e)}`);
  }
  if (r.errorLogs.size) {
    out.push('\nerror-level log lines:');
    for (const [msg, n] of r.errorLogs) out.push(`  ${n}× ${abbreviate(msg, 120)}`);
  }
  return out.join('\n');
}
