/**
 * The CLI behind an emulated OS9 switch's "CLI over REST" (POST
 * /api/running/dell/_operations/cli): the configuration commands HIL
 * types, the one `show` it reads, and `write`. Commands go through the
 * switch's grammar as a terminal would: keywords may be abbreviated
 * ("int vl 100", "unt te 1/1"); a word that fits nothing gets the caret
 * and `% Error: Invalid input at "^" marker.`; a command cut short gets
 * `% Error: Incomplete command.`; an abbreviation that fits two keywords
 * `% Error: Ambiguous command.`. The transcript is what a terminal would
 * show, prompts and all, as the Open Automation Guide's sample shows it
 * ("conf", then "Dell(conf)#interface vlan 100", …). The first refused
 * command ends the request; those before it stay applied.
 */
import { ConfigLockedError, type DeviceState } from './device-state.ts';
import { addTagged, addUntagged, DEFAULT_VLAN, deleteVlan, EMULATED_TYPE, MAX_VLAN, Refusal, removeTagged, removeUntagged, showSwitchport, TYPE_KEYWORDS, type Os9Port } from './dellnos9-model.ts';

export type CliKind = 'config-commands' | 'show-command' | 'exec-command';

/** What a configuration lock looks like to a session that meets it (OS9's "configuration mode exclusive" message). */
export const lockedMessage = (holder: string) => `% Error: User "${holder}" on line vty0 ( 127.0.0.1 ) is in exclusive configuration mode.`;

const INVALID = '% Error: Invalid input at "^" marker.';
const INCOMPLETE = '% Error: Incomplete command.';
const AMBIGUOUS = '% Error: Ambiguous command.';

/** A word of a command and where it starts in the command line. */
interface Word {
  text: string;
  at: number;
}

class CliProblem extends Error {
  readonly lines: string[];
  constructor(lines: string[]) {
    super(lines.join('\n'));
    this.lines = lines;
  }
}

function words(line: string): Word[] {
  return [...line.matchAll(/\S+/g)].map((m) => ({ text: m[0], at: m.index! }));
}

export interface CliContext {
  state: DeviceState<Os9Port>;
  hostname: string;
  /** The account that "holds" the configuration lock, for the locked message. */
  lockHolder: string;
}

/** Runs one request's commands; the transcript (a refused command's "% Error" line in it). */
export async function runCli(ctx: CliContext, kind: CliKind, commands: string[]): Promise<string> {
  const out: string[] = [];
  const exec = `${ctx.hostname}#`;
  if (kind === 'show-command') {
    for (const c of commands) out.push(...show(ctx, c, exec));
    return out.join('\n');
  }
  if (kind === 'exec-command') {
    for (const c of commands) {
      out.push(c);
      const w = words(c);
      try {
        const verb = match(w[0], ['write', 'show'], exec, c);
        if (verb === 'write') {
          if (w[1]) match(w[1], ['memory'], exec, c);
          if (w[2]) invalid(w[2], exec, c);
          ctx.state.save();
          out.push('!');
        } else out.push(...show(ctx, c.replace(/^\s*\S+\s*/, ''), exec));
      } catch (err) {
        if (!(err instanceof CliProblem)) throw err;
        out.push(...err.lines);
        break;
      }
    }
    out.push(exec);
    return out.join('\n');
  }
  out.push('conf');
  let vlan: number | null = null;
  const prompt = () => `${ctx.hostname}(${vlan === null ? 'conf' : `conf-if-vl-${vlan}`})#`;
  if (ctx.state.faults.configLocked) {
    out.push(lockedMessage(ctx.lockHolder), exec);
    return out.join('\n');
  }
  for (const line of commands) {
    const p = prompt();
    out.push(p + line);
    try {
      const next = await configCommand(ctx, vlan, line, p);
      if (next === 'end') {
        vlan = null;
        break;
      }
      vlan = next;
    } catch (err) {
      if (err instanceof CliProblem) out.push(...err.lines);
      else if (err instanceof Refusal) out.push(err.message);
      else if (err instanceof ConfigLockedError) out.push(lockedMessage(ctx.lockHolder));
      else throw err;
      break;
    }
  }
  out.push(`${prompt()}end`, exec);
  return out.join('\n');
}

/** One configuration command; the VLAN mode it leaves the session in (null: CONFIGURATION), or 'end'. */
async function configCommand(ctx: CliContext, vlan: number | null, line: string, prompt: string): Promise<number | null | 'end'> {
  const w = words(line);
  if (!w.length) return vlan;
  const inVlan = vlan !== null;
  const verbs = inVlan ? ['interface', 'no', 'exit', 'end', 'untagged', 'tagged', 'description'] : ['interface', 'no', 'exit', 'end'];
  let i = 0;
  let negate = false;
  let verb = match(w[i++], verbs, prompt, line);
  if (verb === 'no') {
    negate = true;
    verb = match(w[i++] ?? incomplete(), inVlan ? ['interface', 'untagged', 'tagged', 'description'] : ['interface'], prompt, line);
  }
  if (verb === 'exit') return inVlan ? null : 'end';
  if (verb === 'end') return 'end';
  if (verb === 'description') return vlan;
  if (verb === 'interface') {
    match(w[i++] ?? incomplete(), ['vlan'], prompt, line);
    const id = vlanNumber(w[i++] ?? incomplete(), prompt, line);
    if (w[i]) invalid(w[i]!, prompt, line);
    if (negate) {
      await ctx.state.change(() => deleteVlan(ctx.state.vlans, ctx.state.ports.values(), id));
      return null;
    }
    await ctx.state.change(() => void ctx.state.vlans.add(id));
    return id;
  }
  // untagged | tagged <type> <port>
  const typeWord = w[i++] ?? incomplete();
  const type = match(typeWord, TYPE_KEYWORDS, prompt, line);
  const portWord = w[i++] ?? incomplete();
  if (!/^\d+\/\d+(\/\d+)?$/.test(portWord.text)) invalid(portWord, prompt, line);
  if (w[i]) invalid(w[i]!, prompt, line);
  const port = portWord.text;
  const v = vlan!;
  await ctx.state.change(() => {
    const p = type === EMULATED_TYPE.name ? ctx.state.ports.get(port) : undefined;
    if (!p) throw new Refusal(`% Error: No such interface ${type} ${port}.`); // [unverified]
    if (verb === 'untagged') (negate ? removeUntagged : addUntagged)(p, port, v);
    else (negate ? removeTagged : addTagged)(p, port, v);
  });
  return vlan;
}

function show(ctx: CliContext, command: string, prompt: string): string[] {
  const w = words(command.replace(/^\s*show\s+/i, ''));
  const line = command;
  try {
    const what = match(w[0] ?? incomplete(), ['interfaces', 'vlan'], prompt, line);
    if (what === 'vlan') return [showVlans(ctx)];
    match(w[1] ?? incomplete(), ['switchport'], prompt, line);
    const type = match(w[2] ?? incomplete(), TYPE_KEYWORDS, prompt, line);
    const portWord = w[3] ?? incomplete();
    const p = type === EMULATED_TYPE.name ? ctx.state.ports.get(portWord.text) : undefined;
    if (!p) return [`% Error: No such interface ${type} ${portWord.text}.`]; // [unverified]
    return [showSwitchport(p, portWord.text)];
  } catch (err) {
    if (err instanceof CliProblem) return err.lines;
    throw err;
  }
}

/** `show vlan`, enough to look at (the driver does not read it). */
function showVlans(ctx: CliContext): string {
  const rows = ['Codes: * - Default VLAN, G - GVRP VLANs', 'Q: U - Untagged, T - Tagged', '', '    NUM    Status    Description                     Q Ports'];
  for (const v of [...ctx.state.vlans].sort((a, b) => a - b)) {
    const members = [...ctx.state.ports].flatMap(([name, p]) => {
      if (!p.switchport) return [];
      const u = p.untagged ?? (p.hybrid || !p.tagged.length ? DEFAULT_VLAN : null);
      return u === v ? [`U ${EMULATED_TYPE.short} ${name}`] : p.tagged.includes(v) ? [`T ${EMULATED_TYPE.short} ${name}`] : [];
    });
    rows.push(`${v === DEFAULT_VLAN ? '*' : ' '}   ${String(v).padEnd(7)}Active                                    ${members[0] ?? ''}`);
    for (const m of members.slice(1)) rows.push(' '.repeat(53) + m);
  }
  return rows.join('\n');
}

/** The keyword `w` abbreviates (case-insensitive, as OS9's parser). */
function match(w: Word | undefined, keywords: string[], prompt: string, line: string): string {
  if (!w) throw new CliProblem([INCOMPLETE]);
  const lower = w.text.toLowerCase();
  const exact = keywords.find((k) => k.toLowerCase() === lower);
  if (exact) return exact;
  const fits = keywords.filter((k) => k.toLowerCase().startsWith(lower));
  if (fits.length === 1) return fits[0]!;
  if (fits.length > 1) throw new CliProblem([AMBIGUOUS]);
  return invalid(w, prompt, line);
}

function vlanNumber(w: Word, prompt: string, line: string): number {
  const n = Number(w.text);
  if (!/^\d+$/.test(w.text) || n < 1 || n > MAX_VLAN) invalid(w, prompt, line);
  return n;
}

/** The caret under the word, counted from the start of the prompt, then the message. */
function invalid(w: Word, prompt: string, _line: string): never {
  throw new CliProblem([' '.repeat(prompt.length + w.at) + '^', INVALID]);
}

function incomplete(): never {
  throw new CliProblem([INCOMPLETE]);
}
