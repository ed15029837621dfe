/**
 * Every command line in README.md and docs/*.md runs, so the documentation
 * cannot drift from the CLI. Each file's ```sh blocks run in order, verbatim,
 * in one bash session of their own (test/docs/session.ts: a scratch
 * directory that looks like a checkout, a network namespace of its own so
 * 127.0.0.1:5000 is private, no HIL_* variable but what the docs export).
 * Blocks marked ```sh doc-test=NAME are run as test/docs/blocks.ts says, and
 * what is not run is listed there with the reason and printed here.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { missingSummary } from '../../src/lab/doctor.ts';
import { REPO } from '../support/processes.ts';
import { BLOCKS, type BlockHandling, type CommandRule } from './blocks.ts';
import { fencedBlocks, shellCommands, type Block } from './markdown.ts';
import { runSession, scratchCheckout, type Outcome, type Step } from './session.ts';

const FILES = ['README.md', ...readdirSync(join(REPO, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const SHELL = new Set(['sh', 'bash', 'shell']);
/** How a command line starts, for spotting one in a block that is not fenced as shell. */
const COMMAND_LINE = /^(sudo |npm |curl |bin\/|hil(-admin|-lab)? )/;

const blocksOf = (file: string) => fencedBlocks(join(REPO, file), file);
const where = (b: Block, line = b.line) => `${b.file}:${line}`;

function handling(b: Block): BlockHandling | undefined {
  if (!b.docTest) return undefined;
  const h = BLOCKS[b.docTest];
  if (!h) throw new Error(`${where(b)}: doc-test=${b.docTest} names no entry of test/docs/blocks.ts`);
  return h;
}

/** Why the lab cannot run here, or undefined. */
function labMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'the lab needs root';
  return missingSummary() || undefined;
}

interface Plan {
  steps: Step[];
  /** Commands and blocks not run, with the reason. */
  notRun: string[];
}

function plan(file: string): Plan {
  const steps: Step[] = [];
  const notRun: string[] = [];
  for (const b of blocksOf(file)) {
    if (!SHELL.has(b.lang)) continue;
    const h = handling(b);
    if (h?.synopsis) continue; // checked apart, below
    if (h?.skip) {
      notRun.push(`${where(b)} (${b.body.find((l) => l.trim()) ?? ''}): ${h.why}`);
      continue;
    }
    if (h?.needs === 'lab') {
      const missing = labMissing();
      if (missing) {
        if (process.env.HIL_TEST_REQUIRE_ALL) throw new Error(`${where(b)} needs the lab, which cannot run here: ${missing}`);
        notRun.push(`${where(b)}: needs the lab, which cannot run here: ${missing}`);
        continue;
      }
    }
    for (const s of h?.setup ?? []) {
      const c = typeof s === 'string' ? { run: s } : s;
      steps.push({ where: `${where(b)} (setup)`, text: c.run, background: c.background });
    }
    let body = b.body.join('\n');
    for (const r of h?.rewrite ?? []) {
      if (!body.includes(r.from)) throw new Error(`${where(b)}: the rewrite of ${JSON.stringify(r.from)} in test/docs/blocks.ts finds nothing`);
      body = body.split(r.from).join(r.to);
    }
    const commands = shellCommands({ ...b, body: body.split('\n') });
    const rules = new Map<CommandRule, number>();
    for (const c of commands) {
      const mine = (h?.commands ?? []).filter((r) => c.text.includes(r.match));
      if (mine.length > 1) throw new Error(`${where(b, c.line)}: several rules of test/docs/blocks.ts match it`);
      const rule = mine[0];
      if (rule) rules.set(rule, (rules.get(rule) ?? 0) + 1);
      if (rule?.skip) {
        notRun.push(`${where(b, c.line)} (${c.text}): ${rule.skip}`);
        continue;
      }
      const { background, stopWhen, refused, expect, timeoutSeconds } = rule ?? {};
      steps.push({ where: where(b, c.line), text: c.text, background, stopWhen, refused, expect, timeoutSeconds });
      if (rule?.refused) notRun.push(`${where(b, c.line)} (${c.text}): sent, to be refused: ${rule.why ?? h!.why}`);
    }
    for (const r of h?.commands ?? []) {
      if (rules.get(r) !== 1) throw new Error(`${where(b)}: the rule for ${JSON.stringify(r.match)} in test/docs/blocks.ts matches ${rules.get(r) ?? 0} commands, not one`);
    }
  }
  return { steps, notRun };
}

/** commander's "error: unknown option …" and hil-admin's usage text: the arguments did not parse. */
const USAGE_ERROR = /^error: |^usage: hil-admin/m;
/** A HIL error body, as curl prints it. */
const API_ERROR = /^\s*\{\s*"type"\s*:\s*"\w+"\s*,\s*"msg"/m;

/** The first outcome that is not what the docs promise, as a message, or null. */
function firstFailure(outcomes: Outcome[]): string | null {
  for (const o of outcomes) {
    if (!o.started) return null; // the session stopped earlier (that one is reported) or timed out before it
    const s = o.step;
    const show = (why: string) => `${s.where}: ${s.text}\n${why}\n--- its output ---\n${o.output.trimEnd() || '(none)'}\n---`;
    if (o.status === null) return show('did not finish');
    if (s.refused) {
      if (o.status === 0) return show(`it was to be refused (test/docs/blocks.ts) but succeeded: if it can run here now, run it`);
      if (USAGE_ERROR.test(o.output)) return show('its arguments do not parse');
      if (!s.refused.test(o.output)) return show(`exit status ${o.status}, but not the refusal ${s.refused} that test/docs/blocks.ts expects`);
      continue;
    }
    if (o.status === -1) return show(`its output never showed ${JSON.stringify(s.stopWhen ?? s.background)}`);
    if (o.status !== 0) return show(`exit status ${o.status}`);
    if (s.text.startsWith('curl ') && API_ERROR.test(o.output)) return show('the API answered with an error');
    if (s.expect && !s.expect.test(o.output)) return show(`its output does not match ${s.expect}`);
  }
  return null;
}

async function runFile(t: TestContext, file: string): Promise<void> {
  const { steps, notRun } = plan(file);
  for (const n of notRun) t.diagnostic(`not run as it stands: ${n}`);
  if (!steps.length) return;
  const scratch = scratchCheckout(file);
  try {
    const outcomes = await runSession(scratch, steps);
    const timed = outcomes.filter((o) => o.seconds !== null).sort((a, b) => b.seconds! - a.seconds!);
    const total = timed.reduce((sum, o) => sum + o.seconds!, 0);
    t.diagnostic(`${timed.length} commands in ${total.toFixed(1)} s; slowest: ${timed.slice(0, 3).map((o) => `${o.step.where} ${o.seconds!.toFixed(1)} s`).join(', ')}`);
    const failure = firstFailure(outcomes);
    if (failure) assert.fail(failure);
    assert.ok(outcomes.every((o) => o.started), 'every command ran');
  } finally {
    scratch.remove();
  }
}

describe('documented commands', { concurrency: true }, () => {
  it('every shell block is run or listed, every listing is used, and no command hides in a block without a language', () => {
    const used = new Set<string>();
    for (const file of FILES) {
      for (const b of blocksOf(file)) {
        if (b.docTest) {
          handling(b);
          assert.ok(SHELL.has(b.lang), `${where(b)}: doc-test= is for shell blocks`);
          assert.ok(!used.has(b.docTest), `${where(b)}: doc-test=${b.docTest} is used by two blocks`);
          used.add(b.docTest);
        }
        if (!b.lang) {
          const cmd = b.body.findIndex((l) => COMMAND_LINE.test(l));
          assert.equal(cmd, -1, `${where(b, b.line + 1 + cmd)}: a command line in a block not fenced as \`\`\`sh: fence it as sh (it then runs), or sh doc-test=NAME (see test/docs/blocks.ts)`);
        }
      }
      plan(file); // rewrites and rules that find nothing fail here, whatever the machine
    }
    assert.deepEqual(Object.keys(BLOCKS).filter((k) => !used.has(k)), [], 'entries of test/docs/blocks.ts that no block names');
  });

  it('synopses name real commands and options', () => {
    for (const file of FILES) {
      for (const b of blocksOf(file)) {
        if (!handling(b)?.synopsis) continue;
        for (const [i, line] of b.body.entries()) {
          if (!line.trim()) continue;
          const words = line.trim().split(/\s+/);
          const firstArgument = words.findIndex((w) => /^[A-Z[<-]/.test(w)); // NAME, [--option], <x>, --option
          const path = firstArgument < 0 ? words : words.slice(0, firstArgument);
          assert.equal(path[0], 'hil', `${where(b, b.line + 1 + i)}: synopses of ${path[0]} are not checked yet`);
          const r = spawnSync(join(REPO, 'bin', 'hil'), [...path.slice(1), '--help'], { encoding: 'utf8' });
          assert.equal(r.status, 0, `${where(b, b.line + 1 + i)}: ${path.join(' ')} --help: ${r.stderr}`);
          assert.match(r.stdout, new RegExp(`^Usage: ${path.join(' ')} `, 'm'), `${where(b, b.line + 1 + i)}: no such command ${path.join(' ')}`);
          for (const opt of line.match(/--[a-z][\w-]*/g) ?? []) assert.match(r.stdout, new RegExp(`${opt}\\b`), `${where(b, b.line + 1 + i)}: ${path.join(' ')} has no option ${opt}`);
        }
      }
    }
  });

  for (const file of FILES) {
    if (!blocksOf(file).some((b) => SHELL.has(b.lang) && !handling(b)?.synopsis)) continue;
    it(`${file}: its commands run`, { timeout: 300_000 }, (t) => runFile(t, file));
  }
});
