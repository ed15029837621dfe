/**
 * An emulated Brocade VDX (Network OS) behind its XML REST API, for the
 * Brocade driver (src/drivers/switch/brocade.ts) and the shared switch
 * tests. Written from the Network OS administration and REST API guides and
 * the responses upstream HIL recorded from a VDX 6740 (NOS 5.0.1), not from
 * any other emulator. What is reconstructed rather than documented is said
 * so where it is modelled.
 *
 * Resources (all under http://127.0.0.1:<port>, HTTP Basic):
 *
 *   GET    /rest/config/running/interface/<type>/%22<port>%22[/<sub>…]  the interface (or a part of it), as XML
 *   POST   …/%22<port>%22                <switchport/> | <shutdown>true</shutdown>   (409 data-exists when there)
 *   DELETE …/%22<port>%22/shutdown | /switchport | /switchport/trunk/native-vlan | /switchport/trunk/tag/native-vlan
 *   PUT    …/switchport/mode             <mode><vlan-mode>access|trunk</vlan-mode></mode>
 *   PUT    …/switchport/trunk            <trunk><native-vlan>V</native-vlan></trunk>
 *   PUT    …/switchport/trunk/allowed/vlan  <vlan><add|remove>LIST</…></vlan> | <vlan><none>true</none></vlan> | <vlan><all>true</all></vlan>
 *   POST   /rest/config/running/interface   <Vlan><name>V</name></Vlan>   (creates VLAN V)
 *   GET|DELETE /rest/config/running/interface/Vlan/V
 *   POST   /rest/operations/bna-config-cmd   <bna-config-cmd><src>running-config</src><dest>startup-config</dest></bna-config-cmd>
 *   POST   /rest/operations/bna-config-cmd-status   <bna-config-cmd-status><session-id>N</session-id></bna-config-cmd-status>
 *
 * PUT merges the leaves it is given into the resource (upstream relied on
 * that: its PUT of the native VLAN did not wipe the allowed list). A body
 * that is not well-formed XML is refused (400 malformed-message), as is one
 * whose element is not the resource's. The model's quirks:
 *
 * - a fresh port is as a VDX in VCS fabric mode ships it: `no shutdown`,
 *   `fabric isl enable`, not a switchport: it forwards nothing;
 * - `switchport` makes it an access port on VLAN 1;
 * - a trunk's native VLAN is 1 until one is set (CCI-MOC/hil#970), and a new
 *   trunk gets `switchport trunk tag native-vlan` (the native VLAN then goes
 *   out tagged) because `vlan dot1q tag native` is on by default;
 * - a VLAN must exist (interface Vlan) before a port is given it;
 *   VLANs 4087–4095 are reserved (VDX 8770 numbering; the smaller VDXs
 *   reserve 3963–4095 and would refuse more);
 * - a shut-down port forwards nothing.
 *
 * Error documents (4xx/5xx) have the REST namespace's shape,
 * <errors><error><error-type/><error-tag/><error-message/></error></errors>;
 * the tags are the RESTCONF/NETCONF ones Network OS uses, the message words
 * are reconstructed (not verified on hardware).
 */
import { BROCADE_TYPE } from '../../../src/drivers/switch/brocade.ts';
import { formatVlanList, parseVlanList, portVlans, type PortVlans } from '../../../src/drivers/switch/port-vlans.ts';
import { escapeXml, parseXml, textAt, XmlError, type XmlElement } from '../../../src/drivers/switch/xml.ts';
import { DeviceState } from './device-state.ts';
import { startHttpEmulator, type HttpReply, type HttpRequest } from './http-server.ts';
import type { EmulatorOptions, RunningEmulator, VendorFixture } from './model.ts';

export const VDX_MEDIA_TYPE = 'application/vnd.configuration.resource+xml';
const NS_INTERFACE = 'urn:brocade.com:mgmt:brocade-interface';
const NS_REST = 'http://brocade.com/ns/rest';
const NS_RAS = 'urn:brocade.com:mgmt:brocade-ras';

/** The interface type whose ports the emulator has. */
export const VDX_INTERFACE_TYPE = 'TenGigabitEthernet';
/** Reserved for the switch's own use (VDX 8770: 4087–4095). */
export const VDX_RESERVED = { from: 4087, to: 4095 };
/** The default VLAN: exists from the start, the access VLAN and the trunks' native VLAN until one is set. */
const DEFAULT_VLAN = 1;

/** The words the emulator refuses with (reconstructed, see the top of this file). */
export const VDX_WORDS = {
  exists: 'object already exists',
  notFound: 'resource not found',
  noInterface: (type: string, port: string) => `%Error: interface ${type} ${port} does not exist`,
  reserved: (v: number) => `%Error: VLAN ${v} is reserved (VLAN IDs ${VDX_RESERVED.from} through ${VDX_RESERVED.to} are reserved on this switch)`,
  badVlan: (v: string) => `%Error: invalid VLAN ID ${JSON.stringify(v)} (valid: 1-${VDX_RESERVED.from - 1})`,
  noVlan: (v: number) => `%Error: VLAN ${v} does not exist; create it first (interface Vlan ${v})`,
  notTrunk: (type: string, port: string) => `%Error: interface ${type} ${port} is not in trunk mode`,
  locked: 'the configuration database is locked by session 17 admin cli (console) on since 2016-05-10 09:12:44',
  malformed: (why: string) => `malformed XML in the request body: ${why}`,
  wrongElement: (got: string, want: string) => `unexpected element <${got}>: expected <${want}>`,
};

/** One port's running configuration. */
export interface VdxPort {
  shutdown: boolean;
  switchport: boolean;
  mode: 'access' | 'trunk';
  accessVlan: number | null;
  nativeVlan: number | null;
  tagNative: boolean;
  allowed: number[];
  allowedAll: boolean;
}

const freshPort = (): VdxPort => ({ shutdown: false, switchport: false, mode: 'access', accessVlan: null, nativeVlan: null, tagNative: false, allowed: [], allowedAll: false });

/** What a port forwards, given the VLANs that exist (the emulator's own reading, independent of the driver's). */
export function vdxEffective(p: VdxPort, vlans: ReadonlySet<number>): PortVlans {
  if (p.shutdown || !p.switchport) return portVlans(null, []);
  const exists = (v: number) => vlans.has(v);
  if (p.mode === 'access') {
    const v = p.accessVlan ?? DEFAULT_VLAN;
    return portVlans(exists(v) ? v : null, []);
  }
  const tagged = (p.allowedAll ? [...vlans] : p.allowed).filter(exists);
  const native = p.nativeVlan ?? DEFAULT_VLAN;
  if (!exists(native)) return portVlans(null, tagged);
  return p.tagNative ? portVlans(null, [...tagged, native]) : portVlans(native, tagged);
}

/** A refusal thrown from inside a change (which undoes it) and answered as is. */
class Refusal extends Error {
  readonly reply: HttpReply;
  constructor(reply: HttpReply) {
    super(reply.body ?? String(reply.status));
    this.reply = reply;
  }
}

export function vdxError(status: number, tag: string, message: string): HttpReply {
  return {
    status,
    contentType: VDX_MEDIA_TYPE,
    body: `<errors xmlns="${NS_REST}">\n  <error>\n    <error-type>application</error-type>\n    <error-tag>${tag}</error-tag>\n    <error-message>${escapeXml(message)}</error-message>\n  </error>\n</errors>\n`,
  };
}

const refuse = (status: number, tag: string, message: string) => new Refusal(vdxError(status, tag, message));

/** A node of a resource tree, for rendering with Resource-Depth. */
interface Node {
  name: string;
  /** Containers have a y:self; leaves have text. */
  self?: string;
  text?: string;
  children?: Node[];
}

function render(n: Node, depth: number, level = 1, root = true): string {
  const ns = root ? ` xmlns="${NS_INTERFACE}" xmlns:y="${NS_REST}"` : '';
  const pad = '  '.repeat(level - 1);
  if (n.text !== undefined) return `${pad}<${n.name}${ns}>${escapeXml(n.text)}</${n.name}>\n`;
  const self = ` y:self="${n.self}"`;
  if (level > depth || !n.children?.length) return `${pad}<${n.name}${ns}${self}/>\n`;
  return `${pad}<${n.name}${ns}${self}>\n${n.children.map((c) => render(c, depth, level + 1, false)).join('')}${pad}</${n.name}>\n`;
}

function interfaceTree(type: string, name: string, p: VdxPort): Node {
  const base = `/rest/config/running/interface/${type}/%22${name}%22`;
  const children: Node[] = [{ name: 'name', text: name }];
  if (!p.switchport) {
    children.push({
      name: 'fabric',
      self: `${base}/fabric`,
      children: [
        { name: 'fabric-isl', self: `${base}/fabric/fabric-isl`, children: [{ name: 'fabric-isl-enable', text: 'true' }] },
        { name: 'fabric-trunk', self: `${base}/fabric/fabric-trunk`, children: [{ name: 'fabric-trunk-enable', text: 'true' }] },
      ],
    });
  }
  if (p.shutdown) children.push({ name: 'shutdown', text: 'true' });
  if (p.switchport) {
    const sp = `${base}/switchport`;
    const trunk: Node[] = [
      {
        name: 'allowed',
        self: `${sp}/trunk/allowed`,
        children: [
          { name: 'rspan-vlan', self: `${sp}/trunk/allowed/rspan-vlan` },
          {
            name: 'vlan',
            self: `${sp}/trunk/allowed/vlan`,
            children: p.allowedAll ? [{ name: 'all', text: 'true' }] : p.allowed.length ? [{ name: 'add', text: formatVlanList(p.allowed) }] : [],
          },
        ],
      },
      { name: 'tag', self: `${sp}/trunk/tag`, children: p.tagNative ? [{ name: 'native-vlan', text: 'true' }] : [] },
    ];
    if (p.nativeVlan !== null) trunk.push({ name: 'native-vlan', text: String(p.nativeVlan) });
    const switchport: Node[] = [{ name: 'mode', self: `${sp}/mode`, children: [{ name: 'vlan-mode', text: p.mode }] }];
    if (p.accessVlan !== null) switchport.push({ name: 'access', self: `${sp}/access`, children: [{ name: 'vlan', text: String(p.accessVlan) }] });
    switchport.push({ name: 'trunk', self: `${sp}/trunk`, children: trunk });
    children.push({ name: 'switchport', self: sp, children: switchport });
  }
  return { name: type, self: base, children };
}

/** The node at a path of names below `n` (leaves included), or undefined. */
function nodeAt(n: Node, path: string[]): Node | undefined {
  for (const name of path) {
    const next = n.children?.find((c) => c.name === name);
    if (!next) return undefined;
    n = next;
  }
  return n;
}

function body(req: HttpRequest, want: string): XmlElement {
  let doc: XmlElement;
  try {
    doc = parseXml(req.body);
  } catch (err) {
    throw refuse(400, 'malformed-message', VDX_WORDS.malformed(err instanceof XmlError ? err.message : String(err)));
  }
  if (want && doc.name !== want) throw refuse(400, 'unknown-element', VDX_WORDS.wrongElement(doc.name, want));
  return doc;
}

export interface VdxEmulator extends RunningEmulator {
  readonly state: DeviceState<VdxPort>;
}

export async function startBrocadeEmulator(o: EmulatorOptions): Promise<VdxEmulator> {
  const state = new DeviceState<VdxPort>({ ports: o.ports, freshPort, effective: vdxEffective, defaultVlans: [DEFAULT_VLAN], stateFile: o.stateFile, backing: o.backing, faults: o.faults });
  let saves = 0;
  const xml = (status: number, text: string): HttpReply => ({ status, contentType: VDX_MEDIA_TYPE, body: text });

  /** A VLAN ID as the switch checks it: a number, in range, not reserved. */
  function checkVlan(text: string | undefined): number {
    const t = (text ?? '').trim();
    const v = Number(t);
    if (!/^\d+$/.test(t) || v < 1 || v > VDX_RESERVED.to) throw refuse(400, 'invalid-value', VDX_WORDS.badVlan(t));
    if (v >= VDX_RESERVED.from) throw refuse(400, 'invalid-value', VDX_WORDS.reserved(v));
    return v;
  }
  const existing = (v: number) => {
    if (!state.vlans.has(v)) throw refuse(400, 'invalid-value', VDX_WORDS.noVlan(v));
    return v;
  };
  function vlanList(text: string | undefined): number[] {
    const t = (text ?? '').trim();
    let list: number[];
    try {
      list = parseVlanList(t);
    } catch {
      throw refuse(400, 'invalid-value', VDX_WORDS.badVlan(t));
    }
    if (!list.length) throw refuse(400, 'invalid-value', VDX_WORDS.badVlan(t));
    return list.map((v) => checkVlan(String(v)));
  }

  async function portRequest(req: HttpRequest, type: string, name: string, sub: string[]): Promise<HttpReply> {
    const get = () => state.port(name)!;
    if (type !== VDX_INTERFACE_TYPE || !state.port(name)) return vdxError(404, 'invalid-value', VDX_WORDS.noInterface(type, name));
    const route = `${req.method} /${sub.join('/')}`;
    if (req.method === 'GET') {
      const node = nodeAt(interfaceTree(type, name, get()), sub);
      if (!node) return vdxError(404, 'invalid-value', VDX_WORDS.notFound);
      const depth = Number(req.headers['resource-depth'] ?? 3);
      return xml(200, render(node, Number.isInteger(depth) && depth > 0 ? depth : 3));
    }
    const needSwitchport = () => {
      if (!get().switchport) throw refuse(404, 'invalid-value', VDX_WORDS.notFound);
    };
    const needTrunk = () => {
      needSwitchport();
      if (get().mode !== 'trunk') throw refuse(400, 'invalid-value', VDX_WORDS.notTrunk(type, name));
    };
    const change = async (apply: () => void, status = 204) => {
      await state.change(apply);
      return { status } as HttpReply;
    };
    switch (route) {
      case 'POST /': {
        const doc = body(req, '');
        if (doc.name === 'switchport') {
          return change(() => {
            if (get().switchport) throw refuse(409, 'data-exists', VDX_WORDS.exists);
            // `switchport`: an access port on the default VLAN; the fabric (ISL) settings go.
            Object.assign(get(), { switchport: true, mode: 'access', accessVlan: null, nativeVlan: null, tagNative: false, allowed: [], allowedAll: false });
          }, 201);
        }
        if (doc.name === 'shutdown') {
          if (doc.text.trim() !== 'true') throw refuse(400, 'invalid-value', VDX_WORDS.malformed('<shutdown> must be true'));
          return change(() => {
            if (get().shutdown) throw refuse(409, 'data-exists', VDX_WORDS.exists);
            get().shutdown = true;
          }, 201);
        }
        throw refuse(400, 'unknown-element', VDX_WORDS.wrongElement(doc.name, 'switchport or shutdown'));
      }
      case 'DELETE /shutdown':
        return change(() => {
          if (!get().shutdown) throw refuse(404, 'invalid-value', VDX_WORDS.notFound);
          get().shutdown = false;
        });
      case 'DELETE /switchport':
        return change(() => {
          needSwitchport();
          Object.assign(get(), { ...freshPort(), shutdown: get().shutdown });
        });
      case 'PUT /switchport/mode': {
        const mode = textAt(body(req, 'mode'), 'vlan-mode');
        if (mode !== 'access' && mode !== 'trunk') throw refuse(400, 'invalid-value', `%Error: invalid vlan-mode ${JSON.stringify(mode ?? '')}`);
        return change(() => {
          needSwitchport();
          const p = get();
          // A port that becomes a trunk takes the global `vlan dot1q tag native` (on by default).
          if (mode === 'trunk' && p.mode !== 'trunk') p.tagNative = true;
          p.mode = mode;
        });
      }
      case 'PUT /switchport/trunk': {
        const doc = body(req, 'trunk');
        const text = textAt(doc, 'native-vlan');
        if (text === undefined) throw refuse(400, 'invalid-value', VDX_WORDS.wrongElement(doc.children[0]?.name ?? '(none)', 'native-vlan'));
        const v = checkVlan(text);
        return change(() => {
          needTrunk();
          get().nativeVlan = existing(v);
        });
      }
      case 'DELETE /switchport/trunk/native-vlan':
        return change(() => {
          needSwitchport();
          if (get().nativeVlan === null) throw refuse(404, 'invalid-value', VDX_WORDS.notFound);
          get().nativeVlan = null;
        });
      case 'DELETE /switchport/trunk/tag/native-vlan':
        return change(() => {
          needSwitchport();
          if (!get().tagNative) throw refuse(404, 'invalid-value', VDX_WORDS.notFound);
          get().tagNative = false;
        });
      case 'PUT /switchport/trunk/allowed/vlan': {
        const doc = body(req, 'vlan');
        const op = doc.children[0];
        if (!op || doc.children.length !== 1) throw refuse(400, 'invalid-value', VDX_WORDS.wrongElement(op?.name ?? '(none)', 'add, remove, none or all'));
        return change(() => {
          needTrunk();
          const p = get();
          if (op.name === 'add') {
            const add = vlanList(op.text).map(existing);
            if (p.allowedAll) return;
            p.allowed = [...new Set([...p.allowed, ...add])].sort((a, b) => a - b);
          } else if (op.name === 'remove') {
            const remove = new Set(vlanList(op.text));
            if (p.allowedAll) p.allowed = [...state.vlans].sort((a, b) => a - b);
            p.allowedAll = false;
            p.allowed = p.allowed.filter((v) => !remove.has(v));
          } else if (op.name === 'none' || op.name === 'all') {
            p.allowed = [];
            p.allowedAll = op.name === 'all';
          } else throw refuse(400, 'unknown-element', VDX_WORDS.wrongElement(op.name, 'add, remove, none or all'));
        });
      }
      default:
        return vdxError(405, 'operation-not-supported', `${req.method} is not supported on this resource`);
    }
  }

  async function handle(req: HttpRequest): Promise<HttpReply> {
    if (req.method !== 'GET' && req.body) req.log(`  ${req.body}`);
    const iface = /^\/rest\/config\/running\/interface\/([A-Za-z][A-Za-z0-9-]*)\/%22(\d+(?:\/\d+){1,2})%22((?:\/[a-z-]+)*)$/.exec(req.path);
    if (iface) return portRequest(req, iface[1]!, iface[2]!, iface[3]!.split('/').filter(Boolean));
    const vlan = /^\/rest\/config\/running\/interface\/Vlan\/(\d+)$/.exec(req.path);
    if (vlan) {
      const v = Number(vlan[1]);
      if (req.method === 'GET') {
        if (!state.vlans.has(v)) return vdxError(404, 'invalid-value', VDX_WORDS.notFound);
        return xml(200, `<Vlan xmlns="${NS_INTERFACE}" xmlns:y="${NS_REST}" y:self="/rest/config/running/interface/Vlan/${v}">\n  <name>${v}</name>\n</Vlan>\n`);
      }
      if (req.method === 'DELETE') {
        await state.change(() => {
          if (v === DEFAULT_VLAN || !state.vlans.has(v)) throw refuse(404, 'invalid-value', VDX_WORDS.notFound);
          state.vlans.delete(v);
        });
        return { status: 204 };
      }
      return vdxError(405, 'operation-not-supported', `${req.method} is not supported on this resource`);
    }
    if (req.path === '/rest/config/running/interface' && req.method === 'POST') {
      const v = checkVlan(textAt(body(req, 'Vlan'), 'name'));
      await state.change(() => {
        if (state.vlans.has(v)) throw refuse(409, 'data-exists', VDX_WORDS.exists);
        state.vlans.add(v);
      });
      return { status: 201 };
    }
    if (req.path === '/rest/operations/bna-config-cmd' && req.method === 'POST') {
      const doc = body(req, 'bna-config-cmd');
      if (textAt(doc, 'src') !== 'running-config' || textAt(doc, 'dest') !== 'startup-config') return vdxError(400, 'invalid-value', '%Error: only running-config to startup-config is emulated');
      // The copy is taken now; its status reads "in-progress" until asked once, so that clients must poll.
      state.save();
      const id = ++saves;
      return xml(200, `<output xmlns="${NS_RAS}">\n  <session-id>${id}</session-id>\n  <status>in-progress</status>\n</output>\n`);
    }
    if (req.path === '/rest/operations/bna-config-cmd-status' && req.method === 'POST') {
      const id = Number(textAt(body(req, 'bna-config-cmd-status'), 'session-id'));
      if (!Number.isInteger(id) || id < 1 || id > saves) return vdxError(400, 'invalid-value', '%Error: no such copy session');
      return xml(200, `<output xmlns="${NS_RAS}">\n  <status>completed</status>\n  <status-string>copy completed</status-string>\n</output>\n`);
    }
    return vdxError(404, 'invalid-value', VDX_WORDS.notFound);
  }

  return startHttpEmulator({
    vendor: 'brocade',
    state,
    options: o,
    realm: 'NOS',
    configLocked: () => vdxError(503, 'in-use', VDX_WORDS.locked),
    async handler(req) {
      try {
        return await handle(req);
      } catch (err) {
        if (err instanceof Refusal) return err.reply;
        throw err;
      }
    },
  });
}

/** The VDX's ports as HIL registers them: rbridge 1, slot 0, ports 1–16. */
export const VDX_PORTS = Array.from({ length: 16 }, (_, i) => `1/0/${i + 1}`);

export const brocadeFixture: VendorFixture = {
  vendor: 'brocade',
  type: BROCADE_TYPE,
  transport: 'http',
  ports: VDX_PORTS,
  // A port number the switch lacks, and a port of an rbridge that is not in the fabric.
  missingPorts: ['1/0/99', '2/0/1'],
  // ("1/0" is well-formed: slot/port on a standalone switch, as upstream's pattern allows.)
  badPortNames: ['', 'te1/0/1', '1/0/x', '1', '1/0/1/1', 'TenGigabitEthernet 1/0/1', '1/0/1 '],
  start: (o) => startBrocadeEmulator(o),
  fields: (e, o) => ({ hostname: `http://127.0.0.1:${e.port}`, username: o.username, password: o.password, interface_type: VDX_INTERFACE_TYPE }),
  upstreamBody: { type: BROCADE_TYPE, hostname: 'http://vdx.example.com', username: 'admin', password: 'password', interface_type: 'TenGigabitEthernet' },
  invalidVlan: { vlan: 4090, message: /VLAN 4090 is reserved/ },
  missingPortMessage: /interface TenGigabitEthernet \S+ does not exist/,
  configLockedMessage: /configuration database is locked/,
  // No `untouched`: a fresh VDX port (VCS fabric mode: no shutdown, not a
  // switchport) forwards nothing, and the driver reads it as an isolated port.
};
