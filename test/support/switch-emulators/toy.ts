/**
 * A toy switch for the emulator core's own test (test/drivers/switch/
 * emulator-core.test.ts): the smallest grammar that uses every feature of
 * cli-engine.ts, IOS-flavoured but no real vendor's. It lives here, not in
 * the test, so that ./main.ts can run it as a child process.
 */
import { formatVlanList, parseVlanList, portVlans } from '../../../src/drivers/switch/port-vlans.ts';
import { caret, startCliEmulator, terminalLength, VendorError, type CliEmulator, type CliGrammar } from './cli-engine.ts';
import { DeviceState } from './device-state.ts';
import type { EmulatorOptions, VendorFixture } from './model.ts';

export interface ToyPort {
  access: number;
  tagged: number[];
}

export const TOY_PORTS = Array.from({ length: 12 }, (_, i) => `Ethernet1/${i + 1}`);

/** "ethernet 1/1", "eth1/1", "e 1/1", "Ethernet1/1" → "Ethernet1/1". */
function portName(typed: string): string | undefined {
  const m = /^e(?:t(?:h(?:e(?:r(?:n(?:e(?:t)?)?)?)?)?)?)? ?(\d+\/\d+)$/i.exec(typed);
  return m ? `Ethernet${m[1]}` : undefined;
}

const port = (c: { context: unknown; state: DeviceState<ToyPort> }) => c.state.port(c.context as string)!;

function vlansOf(text: string): number[] {
  try {
    return parseVlanList(text);
  } catch {
    throw new VendorError('% Invalid VLAN list');
  }
}

export const toyGrammar: CliGrammar<ToyPort> = {
  hostname: 'toy',
  start: 'exec',
  builtins: { exit: true, end: true, do: true },
  pager: { prompt: ' --More-- ', lines: 10 },
  messages: {
    invalid: (p) => [caret(p.column), "% Invalid input detected at '^' marker."],
    incomplete: () => '% Incomplete command.',
    ambiguous: (p) => `% Ambiguous command:  "${p.line.trim()}"`,
    configLocked: '% Configuration mode is locked by another session',
  },
  modes: {
    exec: {
      prompt: (h) => `${h}#`,
      commands: [
        terminalLength(),
        { pattern: 'traceroute <host>', run: () => 'Type escape sequence to abort.' },
        { pattern: 'configure terminal', run: (c) => c.enter('config') },
        { pattern: 'show vlan', run: (c) => ['VLAN', ...[...c.state.vlans].sort((a, b) => a - b).map(String)] },
        { pattern: 'show interface <port...>', run: (c) => {
          const name = portName(c.args.port);
          const p = name ? c.state.port(name) : undefined;
          if (!p) return c.invalid('port');
          return [`${name}: access ${p.access}`, `  tagged ${formatVlanList(p.tagged) || 'none'}`];
        } },
        { pattern: 'show numbers <count>', accept: { count: /^\d+$/ }, run: (c) => Array.from({ length: Number(c.args.count) }, (_, i) => `line ${i + 1}`) },
        { pattern: 'copy running-config startup-config', run: (c) => {
          c.state.save();
          return 'Copy complete.';
        } },
        { pattern: 'reload', run: async (c) => {
          const answer = await c.askKey('Proceed with reload? [confirm]');
          return answer === 'y' ? 'Reloading (not really).' : '';
        } },
      ],
    },
    config: {
      prompt: (h) => `${h}(config)#`,
      parent: 'exec',
      config: true,
      commands: [
        { pattern: 'interface <port...>', run: (c) => {
          const name = portName(c.args.port);
          if (!name || !c.state.port(name)) return c.invalid('port');
          c.enter('config-if', name);
        } },
        { pattern: 'vlan <id>', accept: { id: /^\d+$/ }, run: (c) => {
          const id = Number(c.args.id);
          if (id < 1 || id > 4094) throw new VendorError('% VLAN id out of range');
          c.state.vlans.add(id);
        } },
        { pattern: 'no vlan <id>', accept: { id: /^\d+$/ }, run: (c) => void c.state.vlans.delete(Number(c.args.id)) },
      ],
    },
    'config-if': {
      prompt: (h) => `${h}(config-if)#`,
      parent: 'config',
      config: true,
      inherit: true,
      commands: [
        { pattern: 'switchport access vlan <vlan>', accept: { vlan: /^\d+$/ }, run: (c) => {
          const v = Number(c.args.vlan);
          if (!c.state.vlans.has(v)) throw new VendorError(`% Access VLAN ${v} does not exist`);
          port(c).access = v;
        } },
        { pattern: 'no switchport access vlan', run: (c) => void (port(c).access = 1) },
        { pattern: 'switchport trunk allowed vlan add <vlans>', run: (c) => {
          const p = port(c);
          p.tagged = [...new Set([...p.tagged, ...vlansOf(c.args.vlans)])].sort((a, b) => a - b);
        } },
        { pattern: 'switchport trunk allowed vlan remove <vlans>', run: (c) => {
          const gone = new Set(vlansOf(c.args.vlans));
          port(c).tagged = port(c).tagged.filter((v) => !gone.has(v));
        } },
        { pattern: 'switchport trunk allowed vlan none', run: (c) => void (port(c).tagged = []) },
        { pattern: 'shutdown', run: () => {} },
      ],
    },
  },
};

export function newToyState(o: EmulatorOptions): DeviceState<ToyPort> {
  return new DeviceState<ToyPort>({
    ports: o.ports,
    freshPort: () => ({ access: 1, tagged: [] }),
    effective: (p, vlans) => portVlans(vlans.has(p.access) ? p.access : null, p.tagged.filter((v) => vlans.has(v))),
    stateFile: o.stateFile,
    backing: o.backing,
    faults: o.faults,
  });
}

export function startToy(o: EmulatorOptions, grammar: CliGrammar<ToyPort> = toyGrammar): Promise<CliEmulator<ToyPort>> {
  return startCliEmulator({ vendor: 'toy', grammar, state: newToyState(o), options: o });
}

/** So that main.ts can run the toy as a child process (fixtureModule); not a driver, so not in index.ts. */
export const toyFixture: VendorFixture = {
  vendor: 'toy',
  type: 'toy',
  transport: 'ssh',
  ports: TOY_PORTS,
  missingPorts: ['Ethernet9/1'],
  badPortNames: ['gi1/0/1'],
  start: (o) => startToy(o),
  fields: (e, o) => ({ hostname: e.host, ssh_port: e.port, username: o.username, password: o.password }),
  upstreamBody: {},
  invalidVlan: { vlan: 5000, message: /VLAN id out of range/ },
  missingPortMessage: /Invalid input/,
  configLockedMessage: /locked by another session/,
};
