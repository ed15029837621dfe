/**
 * The architecture checker on small trees written to a temporary directory:
 * each rule fires where it should, with the right line, and stays quiet on
 * clean code. The real src/ is checked by ./architecture.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { checkArchitecture, formatViolation } from './checker.ts';
import type { LayerTable } from './layers.ts';

/** A small table in the shape of the real one, so the tests do not move when layers.ts does. */
const LAYERS: LayerTable = {
  errors: [],
  store: ['errors'],
  core: ['store', 'errors'],
  drivers: ['store', 'errors'],
  lab: ['errors'],
  assembly: { everyUnitExcept: ['cli', 'lab'] },
  cli: { everyUnitExcept: [] },
};

type Tree = Record<string, string>;

function writeTree(tree: Tree): string {
  const root = mkdtempSync(join(tmpdir(), 'hil-architecture-'));
  for (const [path, text] of Object.entries(tree)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

/** The violations in a tree, as the command prints them. */
function check(tree: Tree, layers: LayerTable = LAYERS): string[] {
  const root = writeTree(tree);
  try {
    return checkArchitecture(root, layers).map(formatViolation);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Lines of filler code, each its own statement. */
function statements(count: number, indent = '  '): string[] {
  return Array.from({ length: count }, (_, i) => `${indent}void ${i};`);
}

/** A file of exactly `count` lines (the last one ends with a newline, as editors write them). */
function fileOfLines(count: number, header: string[] = []): string {
  return [...header, ...statements(count - header.length, '')].join('\n') + '\n';
}

/** `open` … `close` with filler between, `count` lines in all. */
function block(open: string, count: number, close: string): string[] {
  return [open, ...statements(count - 2, '    '), close];
}

describe('architecture checker: layers', () => {
  it('finds nothing in a clean tree', () => {
    const tree = {
      'src/errors.ts': 'export class HilError extends Error {}\n',
      'src/store/db.ts': "import { HilError } from '../errors.ts';\nimport type { Row } from './schema.ts';\nexport const db = (r: Row) => new HilError(String(r));\n",
      'src/store/schema.ts': 'export interface Row { id: number }\n',
      'src/core/node.service.ts': "import { db } from '../store/db.ts';\nimport { readFileSync } from 'node:fs';\nimport { Type } from 'typebox';\nexport const nodes = [db, readFileSync, Type];\n",
      'src/assembly/hil.ts': "import { nodes } from '../core/node.service.ts';\nexport const hil = nodes;\n",
      'src/cli/hil.ts': "import { hil } from '../assembly/hil.ts';\nimport { lab } from '../lab/lab.ts';\nexport const cli = [hil, lab];\n",
      'src/lab/lab.ts': "import { HilError } from '../errors.ts';\nexport const lab = HilError;\n",
    };
    assert.deepEqual(check(tree), []);
  });

  it('reports an upward import at its line', () => {
    const tree = {
      'src/core/node.service.ts': 'export const nodes = 1;\n',
      'src/store/db.ts': "// the database\n\nimport { nodes } from '../core/node.service.ts';\nexport const db = nodes;\n",
      'src/store/migrate.ts': "export const m = 1;\nexport {\n  nodes,\n} from '../core/node.service.ts';\n",
    };
    assert.deepEqual(check(tree), [
      'src/store/db.ts:3: layers: store may not import core (src/core/node.service.ts)',
      'src/store/migrate.ts:2: layers: store may not import core (src/core/node.service.ts)',
    ]);
  });

  it('counts type-only imports, in every form', () => {
    const tree = {
      'src/core/types.ts': 'export interface Node { name: string }\nexport type Name = string;\n',
      'src/store/a.ts': "import type { Node } from '../core/types.ts';\nexport const a = (n: Node) => n;\n",
      'src/store/b.ts': "import { type Name } from '../core/types.ts';\nexport const b = (n: Name) => n;\n",
      'src/store/c.ts': "export type { Name } from '../core/types.ts';\n",
      'src/store/d.ts': "export const d = (n: import('../core/types.ts').Node) => n;\n",
      'src/store/e.ts': "import type * as types from '../core/types.ts';\nexport type E = types.Name;\n",
      'src/store/f.ts': "import type {\n  Node, // the one\n} /* types */ from '../core/types.ts';\nexport type F = Node;\n",
    };
    assert.deepEqual(check(tree), [
      'src/store/a.ts:1: layers: store may not import core (src/core/types.ts)',
      'src/store/b.ts:1: layers: store may not import core (src/core/types.ts)',
      'src/store/c.ts:1: layers: store may not import core (src/core/types.ts)',
      'src/store/d.ts:1: layers: store may not import core (src/core/types.ts)',
      'src/store/e.ts:1: layers: store may not import core (src/core/types.ts)',
      'src/store/f.ts:1: layers: store may not import core (src/core/types.ts)',
    ]);
  });

  it('does not take imports written in comments, strings or regular expressions for imports', () => {
    const source = [
      "// import { nodes } from '../core/node.service.ts';",
      "/* import('../core/node.service.ts') */",
      "const s = \"import { nodes } from '../core/node.service.ts'\";",
      "const t = `export { nodes } from '../core/node.service.ts'`;",
      "const re = /import type { x } from '..\\/core\\/node.service.ts'/;",
      "type Quoted = 'import type { x } from \"../core/node.service.ts\"';",
      "interface Doc { /* import type { x } from '../core/node.service.ts' */ a: 1 }",
      'export const all = [s, t, re] as unknown as Quoted & Doc;',
      '',
    ].join('\n');
    const tree = { 'src/core/node.service.ts': 'export const nodes = 1;\n', 'src/store/db.ts': source };
    assert.deepEqual(check(tree), []);
  });

  it('leaves packages and files that are not .ts alone', () => {
    const tree = {
      'src/store/db.ts': [
        "import { join } from 'node:path';",
        "import pg from 'pg';",
        "const script = new URL('../fpbl/agent/hil-agent.sh', import.meta.url);",
        'export const x = [join, pg, script];',
        '',
      ].join('\n'),
      'src/fpbl/agent/hil-agent.sh': '#!/bin/sh\n',
    };
    assert.deepEqual(check(tree), []);
  });

  it('reports a unit missing from the table, and every import of one', () => {
    const tree = {
      'src/recursive/pool.ts': "import { up } from './upstream.ts';\nexport const pool = up;\n",
      'src/recursive/upstream.ts': 'export const up = 1;\n',
      'src/log.ts': 'export const log = 1;\n',
      'src/core/node.service.ts': "import { log } from '../log.ts';\nimport { pool } from '../recursive/pool.ts';\nexport const n = [log, pool];\n",
    };
    assert.deepEqual(check(tree), [
      "src/core/node.service.ts:1: layers: imports src/log.ts of unknown unit 'log' (not in test/architecture/layers.ts)",
      "src/core/node.service.ts:2: layers: imports src/recursive/pool.ts of unknown unit 'recursive' (not in test/architecture/layers.ts)",
      "src/log.ts:1: layers: unknown unit 'log': give it a place in test/architecture/layers.ts",
      "src/recursive/pool.ts:1: layers: unknown unit 'recursive': give it a place in test/architecture/layers.ts",
    ]);
  });

  it('reads "every unit except" entries', () => {
    const tree = {
      'src/lab/lab.ts': 'export const lab = 1;\n',
      'src/cli/hil.ts': 'export const cli = 1;\n',
      'src/assembly/hil.ts': "import { lab } from '../lab/lab.ts';\nimport { cli } from '../cli/hil.ts';\nexport const x = [lab, cli];\n",
    };
    assert.deepEqual(check(tree), [
      'src/assembly/hil.ts:1: layers: assembly may not import lab (src/lab/lab.ts)',
      'src/assembly/hil.ts:2: layers: assembly may not import cli (src/cli/hil.ts)',
    ]);
  });
});

describe('architecture checker: cycles', () => {
  it('reports a cycle between units once, with one import per edge', () => {
    const layers: LayerTable = { a: ['b'], b: ['c'], c: ['a'] };
    const tree = {
      'src/a/one.ts': "import { two } from '../b/two.ts';\nexport const one = two;\n",
      'src/a/four.ts': "import { two } from '../b/two.ts';\nexport const four = two;\n",
      'src/b/two.ts': "\nimport { three } from '../c/three.ts';\nexport const two = three;\n",
      'src/c/three.ts': "\n\nimport { lone } from '../a/lone.ts';\nexport const three = lone;\n",
      'src/a/lone.ts': 'export const lone = 1;\n',
    };
    assert.deepEqual(check(tree, layers), [
      'src/a/four.ts:1: unit-cycle: units a → b → c → a: src/a/four.ts:1 imports src/b/two.ts; src/b/two.ts:2 imports src/c/three.ts; src/c/three.ts:3 imports src/a/lone.ts',
    ]);
  });

  it('reports a cycle between files of one unit', () => {
    const tree = {
      'src/core/a.ts': "import { b } from './b.ts';\nexport const a = () => b;\n",
      'src/core/b.ts': "import { a } from './a.ts';\nexport const b = () => a;\n",
    };
    assert.deepEqual(check(tree), ['src/core/a.ts:1: file-cycle: files src/core/a.ts → src/core/b.ts → src/core/a.ts: src/core/a.ts:1 imports src/core/b.ts; src/core/b.ts:1 imports src/core/a.ts']);
  });

  it('reports a cycle made of type-only imports', () => {
    const tree = {
      'src/core/a.ts': "import type { B } from './b.ts';\nexport interface A { b: B }\n",
      'src/core/b.ts': "// B\nexport type B = { a: import('./a.ts').A };\n",
    };
    assert.deepEqual(check(tree), ['src/core/a.ts:1: file-cycle: files src/core/a.ts → src/core/b.ts → src/core/a.ts: src/core/a.ts:1 imports src/core/b.ts; src/core/b.ts:2 imports src/core/a.ts']);
  });

  it('reports one cycle per tangle, naming the other files caught in it', () => {
    const tree = {
      'src/core/a.ts': "import './b.ts';\nimport './c.ts';\n",
      'src/core/b.ts': "import './a.ts';\n",
      'src/core/c.ts': "import './d.ts';\n",
      'src/core/d.ts': "import './a.ts';\n",
      'src/core/e.ts': "import './e.ts';\n",
    };
    assert.deepEqual(check(tree), [
      'src/core/a.ts:1: file-cycle: files src/core/a.ts → src/core/b.ts → src/core/a.ts: src/core/a.ts:1 imports src/core/b.ts; src/core/b.ts:1 imports src/core/a.ts (tangled with these too: src/core/c.ts, src/core/d.ts)',
      'src/core/e.ts:1: file-cycle: files src/core/e.ts → src/core/e.ts: src/core/e.ts:1 imports src/core/e.ts',
    ]);
  });
});

describe('architecture checker: driver kinds', () => {
  const kinds = {
    'src/drivers/switch/interface.ts': 'export interface SwitchDriver { type: string }\n',
    'src/drivers/switch/mock.ts': "import type { SwitchDriver } from './interface.ts';\nexport const mock: SwitchDriver = { type: 'mock' };\n",
    'src/drivers/switch/ovs/switch.ts': "import type { SwitchDriver } from '../interface.ts';\nexport const ovs: SwitchDriver = { type: 'ovs' };\n",
    'src/drivers/timeouts.ts': "import type { SwitchDriver } from './switch/interface.ts';\nexport const bounded = (d: SwitchDriver) => d;\n",
    'src/drivers/hil/switch.ts': [
      "import type { SwitchDriver } from '../switch/interface.ts';",
      "import { bounded } from '../timeouts.ts';",
      "export const hil: SwitchDriver = bounded({ type: 'hil' });",
      '',
    ].join('\n'),
    'src/drivers/switch/index.ts': "import { mock } from './mock.ts';\nimport { hil } from '../hil/switch.ts';\nexport const catalog = [mock, hil];\n",
  };

  it('lets a kind reach another through its interface.ts, and its catalog reach anything', () => {
    assert.deepEqual(check(kinds), []);
  });

  it('reports a kind reaching into another kind past its interface.ts', () => {
    const tree = { ...kinds, 'src/drivers/hil/bmc.ts': "import type { SwitchDriver } from '../switch/interface.ts';\nimport { mock } from '../switch/mock.ts';\nexport const x: SwitchDriver = mock;\n" };
    assert.deepEqual(check(tree), ['src/drivers/hil/bmc.ts:2: driver-kinds: drivers/hil may import only src/drivers/switch/interface.ts of kind switch, not src/drivers/switch/mock.ts']);
  });

  it('holds an interface.ts or index.ts deeper in a kind to the rule', () => {
    const tree = {
      ...kinds,
      'src/drivers/hil/deep/index.ts': "import { ovs } from '../../switch/ovs/switch.ts';\nexport const x = ovs;\n",
      'src/drivers/hil/deep/user.ts': "import { ovs } from '../../switch/ovs/switch.ts';\nexport const y = ovs;\n",
    };
    assert.deepEqual(check(tree), [
      'src/drivers/hil/deep/index.ts:1: driver-kinds: drivers/hil may import only src/drivers/switch/interface.ts of kind switch, not src/drivers/switch/ovs/switch.ts',
      'src/drivers/hil/deep/user.ts:1: driver-kinds: drivers/hil may import only src/drivers/switch/interface.ts of kind switch, not src/drivers/switch/ovs/switch.ts',
    ]);
  });

  it('lets shared driver helpers import only interface.ts files of kinds', () => {
    const tree = { ...kinds, 'src/drivers/shared.ts': "import { mock } from './switch/mock.ts';\nexport const s = mock;\n" };
    assert.deepEqual(check(tree), ['src/drivers/shared.ts:1: driver-kinds: a shared driver helper may import only src/drivers/switch/interface.ts of kind switch, not src/drivers/switch/mock.ts']);
  });
});

describe('architecture checker: sizes', () => {
  const OVER = 'src/core/big.ts:1: file-size: 301 lines, over 300: split it, or open it with a comment \'Kept whole: <why>\'';

  it('reports a file over 300 lines, and not one of 300', () => {
    assert.deepEqual(check({ 'src/core/big.ts': fileOfLines(301) }), [OVER]);
    assert.deepEqual(check({ 'src/core/big.ts': fileOfLines(300) }), []);
    assert.deepEqual(check({ 'src/core/big.ts': fileOfLines(300).trimEnd() }), [], 'without a final newline');
  });

  it('accepts a long file whose first comment says why it is kept whole', () => {
    const block = ['/**', ' * The worker.', ' *', ' * Kept whole: one state machine, read top to bottom.', ' */'];
    assert.deepEqual(check({ 'src/core/big.ts': fileOfLines(301, block) }), []);
    assert.deepEqual(check({ 'src/core/big.ts': fileOfLines(301, ['#!/usr/bin/env node', '// Kept whole: a script', '// in one piece.']) }), []);
  });

  it('wants the reason, first, before any code', () => {
    assert.deepEqual(check({ 'src/core/big.ts': fileOfLines(301, ['/** Kept whole: */']) }), [OVER], 'no reason');
    assert.deepEqual(check({ 'src/core/big.ts': fileOfLines(301, ["import type { X } from './x.ts';", '// Kept whole: late']) }), [OVER], 'after code');
    assert.deepEqual(check({ 'src/core/big.ts': fileOfLines(301, ['// The module.', '', '/* Kept whole: second */']) }), [OVER], 'not the first comment');
  });

  it('reports an 81-line arrow function inside an object literal, at its first line', () => {
    const source = (lines: number) => ['export const routes = {', ...block('  list: () => {', lines, '  },'), '};', ''].join('\n');
    assert.deepEqual(check({ 'src/core/routes.ts': source(81) }), ["src/core/routes.ts:2: function-size: arrow function 'list' is 81 lines (2-82), over 80"]);
    assert.deepEqual(check({ 'src/core/routes.ts': source(80) }), []);
  });

  it('reports a long class method, getter and object method from the line of their names', () => {
    const source = [
      'export class Worker {',
      '  #n = 0;',
      ...block('  async drain(switchId: string): Promise<void> {', 81, '  }'),
      ...block('  get state(): number {', 82, '  }'),
      '}',
      'export const o = {',
      ...block('  *items() {', 83, '  },'),
      '};',
      '',
    ].join('\n');
    assert.deepEqual(check({ 'src/core/worker.ts': source }), [
      "src/core/worker.ts:3: function-size: method 'drain' is 81 lines (3-83), over 80",
      "src/core/worker.ts:84: function-size: getter 'state' is 82 lines (84-165), over 80",
      "src/core/worker.ts:168: function-size: method 'items' is 83 lines (168-250), over 80",
    ]);
  });

  it('reports a long function expression, and a long function nested in a long one on its own', () => {
    const source = [
      'export const handler = function () {',
      ...block('  const inner = (x: number): number => {', 81, '  };'),
      '  return inner;',
      '};',
      'export function outer() {',
      ...statements(79),
      '}',
      '',
    ].join('\n');
    assert.deepEqual(check({ 'src/core/handler.ts': source }), [
      "src/core/handler.ts:1: function-size: function expression 'handler' is 84 lines (1-84), over 80",
      "src/core/handler.ts:2: function-size: arrow function 'inner' is 81 lines (2-82), over 80",
      "src/core/handler.ts:85: function-size: function 'outer' is 81 lines (85-165), over 80",
    ]);
  });
});

describe('architecture checker: the command', () => {
  it('reports a file it cannot parse (at line 1: Node names no position)', () => {
    const [broken, ...rest] = check({ 'src/core/broken.ts': 'export const a = 1;\nexport const = ;\n' });
    assert.deepEqual(rest, []);
    assert.match(broken, /^src\/core\/broken\.ts:1: parse: cannot erase its types: Unexpected token/);
    const [unerasable] = check({ 'src/core/enum.ts': 'export enum Color { Red }\n' });
    assert.match(unerasable, /^src\/core\/enum\.ts:1: parse: cannot erase its types: .*enum/);
  });

  it('prints one line per violation and exits 1, or exits 0 on a clean tree', () => {
    const checker = join(import.meta.dirname, 'checker.ts');
    const run = (tree: Tree) => {
      const root = writeTree(tree);
      try {
        return spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', checker, root], { encoding: 'utf8' });
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    };
    const dirty = run({ 'src/core/a.ts': "import './b.ts';\n", 'src/core/b.ts': "import './a.ts';\n", 'src/nowhere.ts': '\n' });
    assert.equal(dirty.status, 1, dirty.stderr);
    assert.deepEqual(dirty.stdout.trimEnd().split('\n'), [
      "src/nowhere.ts:1: layers: unknown unit 'nowhere': give it a place in test/architecture/layers.ts",
      'src/core/a.ts:1: file-cycle: files src/core/a.ts → src/core/b.ts → src/core/a.ts: src/core/a.ts:1 imports src/core/b.ts; src/core/b.ts:1 imports src/core/a.ts',
    ]);
    const clean = run({ 'src/core/a.ts': 'export const a = 1;\n' });
    assert.equal(clean.status, 0, clean.stdout + clean.stderr);
    assert.equal(clean.stdout, '');
  });
});
