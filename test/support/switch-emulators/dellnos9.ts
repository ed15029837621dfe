/**
 * An emulated Dell OS9 switch (S3048-ON and kin) behind its REST API, as
 * the Dell Networking Open Automation Guide describes it, on 127.0.0.1:
 *
 * - GET  /api/running/dell/interfaces/interface/<prefix><u-s-p>[?with-defaults]
 *   the interface's own configuration (<portmode><hybrid>, <switchport/>,
 *   <shutdown>); default-valued leaves only with `with-defaults`;
 * - PUT  the same resource: replaces that configuration (refused, as the
 *   CLI's `portmode hybrid`, while the port has VLAN memberships);
 * - POST /api/running/dell/_operations/cli with <input> holding exactly one
 *   of <config-commands>, <show-command>, <exec-command>, at most 1000
 *   characters, commands separated by CR LF (or the literal "\r\n" the
 *   guide's sample shows): the CLI's transcript in <output><command>, a
 *   refused command's "% Error" line in it (./dellnos9-cli.ts);
 * - errors of the REST layer itself (no such resource, bad document) in
 *   the Tail-f REST server's <errors> shape that OS9's REST API is built on.
 *
 * The port model and its rules: ./dellnos9-model.ts. Every configuration
 * change, CLI or PUT, goes through DeviceState.change.
 */
import { INTERFACE_TYPES } from '../../../src/drivers/switch/dellnos9-port.ts';
import { at, child, escapeXml, parseXml, XmlError } from '../../../src/drivers/switch/xml.ts';
import { DeviceState } from './device-state.ts';
import { lockedMessage, runCli, type CliKind } from './dellnos9-cli.ts';
import { EMULATED_TYPE, effective, freshPort, Refusal, replaceInterface, type Os9Port } from './dellnos9-model.ts';
import { startHttpEmulator, type HttpEmulator, type HttpReply, type HttpRequest } from './http-server.ts';
import type { EmulatorOptions, VendorFixture } from './model.ts';

const NS = 'http://www.dell.com/ns/dell:0.1/root';
const CLI_PATH = '/api/running/dell/_operations/cli';
const INTERFACE_PATH = '/api/running/dell/interfaces/interface/';
const MAX_CLI_CHARS = 1000;
const XML = 'application/vnd.yang.data+xml';

/** A Tail-f REST error document, as OS9's REST server answers a request it cannot serve. */
function restError(status: number, tag: string, message: string, urlpath?: string): HttpReply {
  const where = urlpath ? `\n    <error-urlpath>${escapeXml(urlpath)}</error-urlpath>` : '';
  return {
    status,
    contentType: 'application/vnd.yang.errors+xml',
    body: `<errors xmlns="http://tail-f.com/ns/tailf-rest-error">\n  <error>\n    <error-tag>${tag}</error-tag>${where}\n    <error-message>${escapeXml(message)}</error-message>\n  </error>\n</errors>\n`,
  };
}

/** "tengig-1-3" → "1/3", for the emulated interface type only. */
function portOfResource(name: string): string | undefined {
  if (!name.startsWith(EMULATED_TYPE.prefix)) return undefined;
  const rest = name.slice(EMULATED_TYPE.prefix.length);
  return /^\d+(-\d+){1,2}$/.test(rest) ? rest.replaceAll('-', '/') : undefined;
}

function interfaceXml(name: string, p: Os9Port, withDefaults: boolean): string {
  const leaves = [`  <name>${escapeXml(name)}</name>`];
  if (withDefaults || p.hybrid) leaves.push(`  <portmode>\n    <hybrid>${p.hybrid}</hybrid>\n  </portmode>`);
  if (p.switchport) leaves.push('  <switchport/>');
  if (withDefaults || !p.shutdown) leaves.push(`  <shutdown>${p.shutdown}</shutdown>`);
  return `<interface xmlns="${NS}" xmlns:y="http://tail-f.com/ns/rest" xmlns:dell="${NS}">\n${leaves.join('\n')}\n</interface>\n`;
}

export async function startDellNos9Emulator(o: EmulatorOptions): Promise<HttpEmulator<Os9Port>> {
  const state = new DeviceState<Os9Port>({ ports: o.ports, freshPort, effective, stateFile: o.stateFile, backing: o.backing, faults: o.faults });
  const cli = { state, hostname: o.hostname ?? 'Dell', lockHolder: 'admin' };

  async function handler(req: HttpRequest): Promise<HttpReply> {
    if (req.path.startsWith(INTERFACE_PATH)) return iface(req, decodeURIComponent(req.path.slice(INTERFACE_PATH.length)));
    if (req.path === CLI_PATH && req.method === 'POST') return runCliRequest(req);
    return restError(404, 'invalid-value', 'uri keypath not found', req.path);
  }

  async function iface(req: HttpRequest, name: string): Promise<HttpReply> {
    const port = portOfResource(name);
    const p = port === undefined ? undefined : state.port(port);
    if (!p || port === undefined) return restError(404, 'invalid-value', 'uri keypath not found', req.path);
    if (req.method === 'GET') return { status: 200, contentType: XML, body: interfaceXml(name, p, /(^|&)with-defaults(=|&|$)/.test(req.query)) };
    if (req.method !== 'PUT') return restError(405, 'operation-not-supported', `${req.method} is not supported on this resource`, req.path);
    let doc;
    try {
      doc = parseXml(req.body);
    } catch (err) {
      if (err instanceof XmlError) return restError(400, 'malformed-message', err.message, req.path);
      throw err;
    }
    if (doc.name !== 'interface' || child(doc, 'name')?.text.trim() !== name) return restError(400, 'invalid-value', 'key mismatch: <name> must be the resource\'s key', req.path);
    const bool = (text: string | undefined, dflt: boolean) => (text === undefined ? dflt : text.trim() === 'true');
    const want = { hybrid: bool(at(doc, 'portmode', 'hybrid')?.text, false), switchport: child(doc, 'switchport') !== undefined, shutdown: bool(child(doc, 'shutdown')?.text, true) };
    try {
      await state.change(() => replaceInterface(state.port(port)!, port, want));
    } catch (err) {
      if (err instanceof Refusal) return restError(400, 'operation-failed', err.message, req.path);
      throw err;
    }
    return { status: 204 };
  }

  async function runCliRequest(req: HttpRequest): Promise<HttpReply> {
    let input;
    try {
      input = parseXml(req.body);
    } catch (err) {
      if (err instanceof XmlError) return restError(400, 'malformed-message', err.message, req.path);
      throw err;
    }
    const tags = input.name === 'input' ? input.children : [];
    if (tags.length !== 1 || !['config-commands', 'show-command', 'exec-command'].includes(tags[0]!.name)) {
      return restError(400, 'malformed-message', 'exactly one of config-commands, show-command, exec-command is allowed in <input>', req.path);
    }
    const kind = tags[0]!.name as CliKind;
    const text = tags[0]!.text;
    if (text.length > MAX_CLI_CHARS) return restError(400, 'invalid-value', `the commands are ${text.length} characters; at most ${MAX_CLI_CHARS} are allowed`, req.path);
    const commands = text
      .split(/\\r\\n|\r\n|\r|\n/)
      .map((c) => c.trim())
      .filter(Boolean);
    for (const c of commands) req.log(c);
    const transcript = await runCli(cli, kind, commands);
    return { status: 200, contentType: XML, body: `<output xmlns="${NS}">\n<command>${escapeXml(transcript)}</command>\n</output>\n` };
  }

  await state.applyAll();
  return startHttpEmulator({
    vendor: 'dellnos9',
    state,
    options: o,
    handler,
    realm: 'restconf',
    // A PUT that meets the lock: the REST server's "in use", in the CLI's words.
    configLocked: () => restError(409, 'in-use', lockedMessage(cli.lockHolder)),
  });
}

const PORTS = Array.from({ length: 16 }, (_, i) => `1/${i + 1}`);

export const dellnos9Fixture: VendorFixture = {
  vendor: 'dellnos9',
  type: 'http://schema.massopencloud.org/haas/v0/switches/dellnos9',
  transport: 'http',
  ports: PORTS,
  missingPorts: ['1/99', '3/1'],
  badPortNames: ['', 'te1/1', '1', '1/x', '1/1 ', 'TenGigabitEthernet 1/1', '1/1/1/1'],
  start: (o) => startDellNos9Emulator(o),
  fields: (e, o) => ({ hostname: `http://${e.host}:${e.port}`, username: o.username, password: o.password, interface_type: EMULATED_TYPE.name }),
  upstreamBody: {
    type: 'http://schema.massopencloud.org/haas/v0/switches/dellnos9',
    hostname: 'http://s3048.example.com:8008',
    username: 'admin',
    password: 'secret',
    interface_type: 'TenGigabitEthernet',
  },
  // OS9: "only untagged interfaces can belong to the default VLAN" — VLAN 1 on a tagged channel (vlan/1) is refused.
  invalidVlan: { vlan: 1, tagged: true, message: /% Error: Only untagged interfaces can belong to the default VLAN/ },
  // The REST server's answer for the interface resource of a port the switch lacks.
  missingPortMessage: /uri keypath not found/,
  configLockedMessage: /% Error: User "admin" on line vty0 \( 127\.0\.0\.1 \) is in exclusive configuration mode\./,
  // A fresh OS9 port is shut down and in Layer 3 mode: it reads as carrying nothing, as an isolated port does.
};

// The driver and the emulator must agree on the emulated type's REST prefix.
if (INTERFACE_TYPES[EMULATED_TYPE.name] !== EMULATED_TYPE.prefix) throw new Error('dellnos9 emulator: interface prefix differs from the driver');
