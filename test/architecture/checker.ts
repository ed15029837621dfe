/**
 * The architecture checker. Over every .ts file under <root>/src it enforces:
 *   layers        each unit imports only the units ./layers.ts allows it;
 *   unit-cycle    no cycle between units;
 *   file-cycle    no cycle between files (type-only imports count);
 *   driver-kinds  a driver kind reaches another kind only through its interface.ts;
 *   file-size     a file over 300 lines says why, first thing, in a `Kept whole:` comment;
 *   function-size no function over 80 lines;
 * and reports a file it cannot parse as `parse`.
 *
 * Run: `npm run check:architecture [root]`. Prints `file:line: rule: message`
 * per violation and exits 1 when there is any.
 *
 * TypeScript 7 has no JavaScript compiler API, so a file is parsed by erasing
 * its types with Node's stripTypeScriptTypes (which keeps every offset, hence
 * every line) and handing the result to acorn. Erasing also drops type-only
 * imports, which still bind files together, so those are read from the erased
 * stretches of the original text (see typeImports).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { join, posix, resolve } from 'node:path';
import { getLineInfo, parse, type AnyNode, type Program } from 'acorn';
import { LAYERS, type LayerTable } from './layers.ts';

export const MAX_FILE_LINES = 300;
export const MAX_FUNCTION_LINES = 80;

export const RULES = ['parse', 'layers', 'unit-cycle', 'file-cycle', 'driver-kinds', 'file-size', 'function-size'] as const;
export type Rule = (typeof RULES)[number];

export interface Violation {
  /** Relative to the checked root, with `/`: `src/core/node.service.ts`. */
  file: string;
  line: number;
  rule: Rule;
  message: string;
}

/** An import of one .ts file of src/ by another; paths as in Violation.file. */
interface Import {
  from: string;
  to: string;
  line: number;
}

interface FunctionSpan {
  description: string;
  startLine: number;
  endLine: number;
}

interface SourceFile {
  path: string;
  lineCount: number;
  /** The text of the file's first comment, when it comes before any code. */
  headerComment: string | undefined;
  imports: Import[];
  functions: FunctionSpan[];
}

export function formatViolation(v: Violation): string {
  return `${v.file}:${v.line}: ${v.rule}: ${v.message}`;
}

/** Checks every rule over <root>/src; the violations come sorted by rule, file and line. */
export function checkArchitecture(root: string, layers: LayerTable = LAYERS): Violation[] {
  const violations: Violation[] = [];
  const files: SourceFile[] = [];
  for (const path of listSourceFiles(root)) {
    const file = parseSourceFile(path, readFileSync(join(root, path), 'utf8'));
    if ('rule' in file) violations.push(file);
    else files.push(file);
  }
  const imports = files.flatMap((file) => file.imports);
  violations.push(
    ...checkLayers(files, imports, layers),
    ...checkUnitCycles(imports),
    ...checkFileCycles(imports),
    ...checkDriverKinds(imports),
    ...checkFileSizes(files),
    ...checkFunctionSizes(files),
  );
  return violations.sort(byRuleFileLine);
}

function byRuleFileLine(a: Violation, b: Violation): number {
  return RULES.indexOf(a.rule) - RULES.indexOf(b.rule) || compareStrings(a.file, b.file) || a.line - b.line;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function listSourceFiles(root: string): string[] {
  const entries = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' });
  return entries
    .map((entry) => posix.join('src', entry.replaceAll('\\', '/')))
    .filter((path) => path.endsWith('.ts'))
    .sort(compareStrings);
}

// ---------------------------------------------------------------- parsing

/** What the rules need to know of one file; `path` is as in Violation.file. */
function parseSourceFile(path: string, text: string): SourceFile | Violation {
  let stripped: string;
  let program: Program;
  try {
    stripped = stripTypeScriptTypes(text, { mode: 'strip' });
  } catch (err) {
    // Node names no position, so the line is the file's first.
    return { file: path, line: 1, rule: 'parse', message: `cannot erase its types: ${(err as Error).message}` };
  }
  try {
    program = parse(stripped, { ecmaVersion: 'latest', sourceType: 'module', locations: true, allowHashBang: true });
  } catch (err) {
    const line = (err as { loc?: { line: number } }).loc?.line ?? 1;
    return { file: path, line, rule: 'parse', message: (err as Error).message };
  }
  // In file order, so that the first import of a file is the one that stands for an edge.
  const specifiers = [...valueImports(program), ...typeImports(text, stripped)].sort((a, b) => a.offset - b.offset);
  return {
    path,
    lineCount: countLines(text),
    headerComment: headerComment(text),
    imports: specifiers.flatMap(({ specifier, offset }) => {
      const to = resolveSourceImport(path, specifier);
      return to ? [{ from: path, to, line: getLineInfo(text, offset).line }] : [];
    }),
    functions: functionSpans(program),
  };
}

interface Specifier {
  specifier: string;
  /** Where the import starts in the file, for its line. */
  offset: number;
}

/**
 * The path of the src/ .ts file a specifier names, or undefined for what the
 * rules leave alone: packages (`typebox`, `node:fs`), files that are not .ts,
 * and files outside src/.
 */
function resolveSourceImport(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('./') && !specifier.startsWith('../')) return undefined;
  if (!specifier.endsWith('.ts')) return undefined;
  const to = posix.normalize(posix.join(posix.dirname(from), specifier));
  return to.startsWith('src/') ? to : undefined;
}

/** Imports left after erasing types: declarations, re-exports and import('…') with a literal. */
function valueImports(program: Program): Specifier[] {
  const found: Specifier[] = [];
  walk(program, (node) => {
    const source =
      node.type === 'ImportDeclaration' || node.type === 'ExportAllDeclaration' || node.type === 'ExportNamedDeclaration' || node.type === 'ImportExpression'
        ? node.source
        : undefined;
    if (source?.type === 'Literal' && typeof source.value === 'string') found.push({ specifier: source.value, offset: node.start });
  });
  return found;
}

// `import type … from '…'`, `export type … from '…'`; the match ends at the quote.
const TYPE_ONLY_IMPORT = /\b(?:import|export)\s+type\s+(?:\*(?:\s+as\s+[\w$]+)?\s*|\{[^}]*\}\s*|[\w$]+\s+)from\s*(?=['"])/g;
// `import('…')` in a type.
const IMPORT_TYPE = /\bimport\s*\(\s*(?=['"])/g;

/**
 * The imports that erasing removed: `import type`, `export type … from` and
 * `import('…')` types. (`import { type X } from` keeps an empty import, which
 * valueImports sees.) Only stretches that erasing blanked are searched, and
 * those hold type syntax only, which has no regular expressions: so comments
 * and strings there can be told apart and are masked before matching.
 */
function typeImports(original: string, stripped: string): Specifier[] {
  const found: Specifier[] = [];
  for (const [start, end] of erasedStretches(original, stripped)) {
    const { masked, strings } = maskCommentsAndStrings(original.slice(start, end));
    for (const pattern of [TYPE_ONLY_IMPORT, IMPORT_TYPE]) {
      for (const match of masked.matchAll(pattern)) {
        const specifier = strings.get(match.index + match[0].length);
        if (specifier !== undefined) found.push({ specifier, offset: start + match.index });
      }
    }
  }
  return found;
}

/** [start, end) ranges that are blank after erasing and held something before. */
function erasedStretches(original: string, stripped: string): Array<[number, number]> {
  const stretches: Array<[number, number]> = [];
  for (const match of stripped.matchAll(/\s+/g)) {
    const [start, end] = [match.index, match.index + match[0].length];
    if (original.slice(start, end) !== match[0]) stretches.push([start, end]);
  }
  return stretches;
}

/**
 * Blanks comments and the insides of strings (a template literal whole, so a
 * type inside `${}` of a template literal type is not searched), and returns
 * each string's text by the offset of its opening quote.
 */
function maskCommentsAndStrings(text: string): { masked: string; strings: Map<number, string> } {
  const strings = new Map<number, string>();
  let masked = '';
  let i = 0;
  while (i < text.length) {
    const end = endOfCommentOrString(text, i);
    if (end === undefined) {
      masked += text[i++];
      continue;
    }
    const isString = text[i] !== '/';
    if (isString) strings.set(i, text.slice(i + 1, end - 1));
    masked += isString ? text[i] + ' '.repeat(end - i - 2) + text[end - 1] : ' '.repeat(end - i);
    i = end;
  }
  return { masked, strings };
}

/** The end of the comment or string starting at i, if one starts there. */
function endOfCommentOrString(text: string, i: number): number | undefined {
  const c = text[i];
  if (c === '/' && text[i + 1] === '/') return untilAfter(text, '\n', i + 2);
  if (c === '/' && text[i + 1] === '*') return untilAfter(text, '*/', i + 2);
  if (c !== "'" && c !== '"' && c !== '`') return undefined;
  let j = i + 1;
  while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
  return Math.min(j + 1, text.length);
}

function untilAfter(text: string, terminator: string, from: number): number {
  const at = text.indexOf(terminator, from);
  return at === -1 ? text.length : at + terminator.length;
}

function countLines(text: string): number {
  if (text === '') return 0;
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

/** The first comment, if nothing but a `#!` line comes before it; `//` lines in a row are one comment. */
function headerComment(text: string): string | undefined {
  const match = /^(?:#![^\n]*\n)?\s*(\/\*[\s\S]*?\*\/|\/\/[^\n]*(?:\n[ \t]*\/\/[^\n]*)*)/.exec(text);
  return match?.[1];
}

/** Every function with the lines it spans; a method's span starts at its name. */
function functionSpans(program: Program): FunctionSpan[] {
  const spans: FunctionSpan[] = [];
  walk(program, (node, parent) => {
    if (node.type !== 'FunctionDeclaration' && node.type !== 'FunctionExpression' && node.type !== 'ArrowFunctionExpression') return;
    const whole = methodOf(node, parent) ?? node;
    spans.push({ description: describeFunction(node, parent), startLine: whole.loc!.start.line, endLine: whole.loc!.end.line });
  });
  return spans;
}

/** The class or object method (getter, setter) whose body the function is, if it is one. */
function methodOf(fn: AnyNode, parent: AnyNode | undefined): AnyNode | undefined {
  if (parent?.type === 'MethodDefinition') return parent;
  if (parent?.type === 'Property' && parent.value === fn && (parent.method || parent.kind !== 'init')) return parent;
  return undefined;
}

/** `method 'drain'`, `arrow function 'list'`, `getter 'state'`, `function expression`… */
function describeFunction(fn: AnyNode, parent: AnyNode | undefined): string {
  const kind = functionKind(fn, parent);
  const name = functionName(fn, parent);
  return name === undefined || kind === 'constructor' ? kind : `${kind} '${name}'`;
}

function functionKind(fn: AnyNode, parent: AnyNode | undefined): string {
  const method = methodOf(fn, parent);
  if (method?.type === 'MethodDefinition' || method?.type === 'Property') {
    if (method.kind === 'get' || method.kind === 'set') return `${method.kind}ter`;
    return method.kind === 'constructor' ? 'constructor' : 'method';
  }
  if (fn.type === 'ArrowFunctionExpression') return 'arrow function';
  return fn.type === 'FunctionDeclaration' ? 'function' : 'function expression';
}

/** Its own name, else the name of the property, field or variable that holds it. */
function functionName(fn: AnyNode, parent: AnyNode | undefined): string | undefined {
  if ((fn.type === 'FunctionDeclaration' || fn.type === 'FunctionExpression') && fn.id) return fn.id.name;
  if (parent?.type === 'MethodDefinition' || parent?.type === 'Property' || parent?.type === 'PropertyDefinition') return keyName(parent.key);
  if (parent?.type === 'VariableDeclarator' && parent.id.type === 'Identifier') return parent.id.name;
  return undefined;
}

function keyName(key: AnyNode): string {
  if (key.type === 'Identifier') return key.name;
  if (key.type === 'PrivateIdentifier') return `#${key.name}`;
  if (key.type === 'Literal') return String(key.value);
  return '[computed]';
}

/** Visits every node depth-first with its parent. */
function walk(node: AnyNode, visit: (node: AnyNode, parent: AnyNode | undefined) => void, parent?: AnyNode): void {
  visit(node, parent);
  for (const value of Object.values(node)) {
    for (const child of Array.isArray(value) ? value : [value]) {
      if (isNode(child)) walk(child, visit, node);
    }
  }
}

function isNode(value: unknown): value is AnyNode {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

// ---------------------------------------------------------------- rule 1: layers

/** `src/core/x/y.ts` → `core`; `src/errors.ts` → `errors`. */
function unitOf(path: string): string {
  const [, first, ...rest] = path.split('/');
  return rest.length === 0 ? posix.basename(first, '.ts') : first;
}

function isKnownUnit(layers: LayerTable, unit: string): boolean {
  return Object.hasOwn(layers, unit);
}

function mayImport(layers: LayerTable, from: string, to: string): boolean {
  const allowed = layers[from];
  return 'everyUnitExcept' in allowed ? !allowed.everyUnitExcept.includes(to) : allowed.includes(to);
}

function checkLayers(files: SourceFile[], imports: Import[], layers: LayerTable): Violation[] {
  const violations = unknownUnitsOfFiles(files, layers);
  for (const { from, to, line } of imports) {
    const [fromUnit, toUnit] = [unitOf(from), unitOf(to)];
    if (fromUnit === toUnit) continue;
    if (!isKnownUnit(layers, toUnit)) {
      violations.push({ file: from, line, rule: 'layers', message: `imports ${to} of unknown unit '${toUnit}' (not in test/architecture/layers.ts)` });
    } else if (isKnownUnit(layers, fromUnit) && !mayImport(layers, fromUnit, toUnit)) {
      violations.push({ file: from, line, rule: 'layers', message: `${fromUnit} may not import ${toUnit} (${to})` });
    }
  }
  return violations;
}

/** One violation per unit missing from the table, at its first file. */
function unknownUnitsOfFiles(files: SourceFile[], layers: LayerTable): Violation[] {
  const firstFileOfUnit = new Map<string, string>();
  for (const { path } of files) {
    const unit = unitOf(path);
    if (!isKnownUnit(layers, unit) && !firstFileOfUnit.has(unit)) firstFileOfUnit.set(unit, path);
  }
  return [...firstFileOfUnit].map(([unit, file]) => ({
    file,
    line: 1,
    rule: 'layers' as const,
    message: `unknown unit '${unit}': give it a place in test/architecture/layers.ts`,
  }));
}

// ---------------------------------------------------------------- rule 2: cycles

/** Edges of a graph, each with the first import that makes it. */
type Graph = Map<string, Map<string, Import>>;

function addEdge(graph: Graph, from: string, to: string, via: Import): void {
  const edges = graph.get(from) ?? new Map<string, Import>();
  if (!edges.has(to)) edges.set(to, via);
  graph.set(from, edges);
}

function checkUnitCycles(imports: Import[]): Violation[] {
  const graph: Graph = new Map();
  for (const imp of imports) {
    const [from, to] = [unitOf(imp.from), unitOf(imp.to)];
    if (from !== to) addEdge(graph, from, to, imp);
  }
  return reportCycles(graph, 'unit-cycle', 'units');
}

function checkFileCycles(imports: Import[]): Violation[] {
  const graph: Graph = new Map();
  for (const imp of imports) addEdge(graph, imp.from, imp.to, imp);
  return reportCycles(graph, 'file-cycle', 'files');
}

/** One violation per strongly connected component: one cycle through it, with an import per edge. */
function reportCycles(graph: Graph, rule: Rule, what: string): Violation[] {
  return stronglyConnectedComponents(graph).flatMap((component) => {
    const cycle = shortestCycle(graph, component);
    if (!cycle) return [];
    const edges = cycle.slice(1).map((to, i) => graph.get(cycle[i])!.get(to)!);
    const others = component.filter((node) => !cycle.includes(node));
    const message =
      `${what} ${cycle.join(' → ')}: ` +
      edges.map((e) => `${e.from}:${e.line} imports ${e.to}`).join('; ') +
      (others.length ? ` (tangled with these too: ${others.join(', ')})` : '');
    return [{ file: edges[0].from, line: edges[0].line, rule, message }];
  });
}

/** Tarjan's algorithm; each component comes sorted, and the components in order of their first node. */
function stronglyConnectedComponents(graph: Graph): string[][] {
  const index = new Map<string, number>();
  const lowLink = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    lowLink.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node)?.keys() ?? []) {
      if (!index.has(next)) visit(next);
      if (onStack.has(next)) lowLink.set(node, Math.min(lowLink.get(node)!, lowLink.get(next)!));
    }
    if (lowLink.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    components.push(component.sort(compareStrings));
  };
  for (const node of [...graph.keys()].sort(compareStrings)) if (!index.has(node)) visit(node);
  return components.sort((a, b) => compareStrings(a[0], b[0]));
}

/**
 * The shortest cycle through the component's first node, inside the component, as [first, …, first]; undefined for a single node that does
 * not import itself.
 */
function shortestCycle(graph: Graph, component: string[]): string[] | undefined {
  const start = component[0];
  const inComponent = new Set(component);
  const cameFrom = new Map<string, string>();
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head];
    for (const next of graph.get(node)?.keys() ?? []) {
      if (next === start) return [...pathTo(cameFrom, node, start), start];
      if (!inComponent.has(next) || cameFrom.has(next)) continue;
      cameFrom.set(next, node);
      queue.push(next);
    }
  }
  return undefined;
}

function pathTo(cameFrom: Map<string, string>, node: string, start: string): string[] {
  const path = [node];
  while (path[0] !== start) path.unshift(cameFrom.get(path[0])!);
  return path;
}

// ---------------------------------------------------------------- rule 3: driver kinds

/** `src/drivers/<kind>/…` → kind; undefined for files directly in src/drivers/ and outside it. */
function driverKindOf(path: string): string | undefined {
  const [src, drivers, kind, ...rest] = path.split('/');
  return src === 'src' && drivers === 'drivers' && rest.length > 0 ? kind : undefined;
}

function isDriverFile(path: string): boolean {
  return path.startsWith('src/drivers/');
}

function isKindFile(path: string, name: 'interface.ts' | 'index.ts'): boolean {
  const segments = path.split('/');
  return segments.length === 4 && isDriverFile(path) && segments[3] === name;
}

function checkDriverKinds(imports: Import[]): Violation[] {
  return imports.flatMap(({ from, to, line }) => {
    if (!isDriverFile(from) || !isDriverFile(to)) return [];
    const [fromKind, toKind] = [driverKindOf(from), driverKindOf(to)];
    // Shared helpers (directly in src/drivers/) serve every kind; a kind's catalog lists any implementation.
    if (toKind === undefined || toKind === fromKind || isKindFile(to, 'interface.ts') || isKindFile(from, 'index.ts')) return [];
    const importer = fromKind === undefined ? 'a shared driver helper' : `drivers/${fromKind}`;
    const message = `${importer} may import only src/drivers/${toKind}/interface.ts of kind ${toKind}, not ${to}`;
    return [{ file: from, line, rule: 'driver-kinds' as const, message }];
  });
}

// ---------------------------------------------------------------- rule 4: sizes

/** True when the comment says `Kept whole:` and then something. */
function saysKeptWhole(comment: string | undefined): boolean {
  return comment !== undefined && /Kept whole:[\s*/]*[^\s*/]/.test(comment);
}

function checkFileSizes(files: SourceFile[]): Violation[] {
  return files
    .filter((file) => file.lineCount > MAX_FILE_LINES && !saysKeptWhole(file.headerComment))
    .map((file) => ({
      file: file.path,
      line: 1,
      rule: 'file-size' as const,
      message: `${file.lineCount} lines, over ${MAX_FILE_LINES}: split it, or open it with a comment 'Kept whole: <why>'`,
    }));
}

function checkFunctionSizes(files: SourceFile[]): Violation[] {
  return files.flatMap((file) =>
    file.functions
      .map((fn) => ({ ...fn, lines: fn.endLine - fn.startLine + 1 }))
      .filter((fn) => fn.lines > MAX_FUNCTION_LINES)
      .map((fn) => ({
        file: file.path,
        line: fn.startLine,
        rule: 'function-size' as const,
        message: `${fn.description} is ${fn.lines} lines (${fn.startLine}-${fn.endLine}), over ${MAX_FUNCTION_LINES}`,
      })),
  );
}

// ---------------------------------------------------------------- command line

function main(): void {
  const root = resolve(process.argv[2] ?? join(import.meta.dirname, '..', '..'));
  const violations = checkArchitecture(root);
  for (const v of violations) console.log(formatViolation(v));
  const counts = RULES.map((rule) => [rule, violations.filter((v) => v.rule === rule).length] as const).filter(([, n]) => n > 0);
  console.error(violations.length ? `${violations.length} violations (${counts.map(([rule, n]) => `${rule} ${n}`).join(', ')})` : 'no violations');
  process.exitCode = violations.length ? 1 : 0;
}

if (import.meta.main) main();
