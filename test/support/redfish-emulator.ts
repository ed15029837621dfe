/**
 * A Redfish BMC emulator for the `redfish` OBM driver's tests. Its resources
 * have the shapes of the DMTF "public-rackmount1" mockup (BSD 3-Clause,
 * Copyright 2014-2022 DMTF): service root, Systems collection, the
 * ComputerSystem 437XR1138R2 (PowerState, Boot override, Actions
 * #ComputerSystem.Reset) and SessionService/Sessions. The behaviour is ours:
 * - every resource but the service root needs HTTP Basic or an X-Auth-Token
 *   session (401 with a Redfish error otherwise); sessions are created by
 *   POST /redfish/v1/SessionService/Sessions and ended by DELETE;
 * - POST .../Actions/ComputerSystem.Reset changes PowerState (a redundant
 *   On/ForceOff, or a restart of a system that is off, is refused with 409, as
 *   many BMCs do) and is recorded; PATCH of the system's Boot is validated
 *   against the mockup's allowable values and recorded;
 * - errors are Redfish-shaped: {"error": {code, message, @Message.ExtendedInfo}};
 * - hang(true) makes it accept requests and never answer them;
 * - resetDelayMs makes each reset take that long to answer (a BMC slow to power-cycle);
 * - echoCredentials makes its errors repeat the credentials it was sent.
 * Unlike the mockup's sample values, the system starts Off with no boot override.
 * With `tls: true` it serves HTTPS with a self-signed certificate made by the
 * openssl CLI for this run.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface RedfishBoot {
  BootSourceOverrideEnabled: string;
  BootSourceOverrideTarget: string;
}

export interface RedfishEmulatorState {
  powerState: 'On' | 'Off';
  boot: RedfishBoot;
  /** Every ResetType applied, in order. */
  resets: string[];
  /** Every Boot PATCH applied, in order. */
  bootPatches: RedfishBoot[];
  /** Sessions open now. */
  openSessions: number;
  /** Every session token ever issued. */
  tokens: string[];
  /** Every request answered: "METHOD path auth" where auth is basic, session or none. */
  requests: string[];
}

export interface RedfishEmulator {
  url: string;
  user: string;
  password: string;
  /** The ComputerSystem's Id. */
  systemId: string;
  state(): RedfishEmulatorState;
  /** While on, requests are accepted and never answered. */
  hang(on: boolean): void;
  close(): Promise<void>;
}

export interface RedfishEmulatorOptions {
  tls?: boolean;
  powerState?: 'On' | 'Off';
  /** Like careless BMCs: every error message repeats the request's Authorization header and the password, percent-encoded. */
  echoCredentials?: boolean;
  /** The BMC account's password (default: random). */
  password?: string;
  /** How long each ComputerSystem.Reset takes to answer (a slow BMC); default 0. */
  resetDelayMs?: number;
}

const SYSTEM_ID = '437XR1138R2';
const ROOT = '/redfish/v1';
const SYSTEM = `${ROOT}/Systems/${SYSTEM_ID}`;
const RESET = `${SYSTEM}/Actions/ComputerSystem.Reset`;
const SESSIONS = `${ROOT}/SessionService/Sessions`;
const RESET_TYPES = ['On', 'ForceOff', 'GracefulShutdown', 'GracefulRestart', 'ForceRestart', 'Nmi', 'ForceOn', 'PushPowerButton'];
const BOOT_TARGETS = ['None', 'Pxe', 'Cd', 'Usb', 'Hdd', 'BiosSetup', 'Utilities', 'Diags', 'SDCard', 'UefiTarget'];
const BOOT_ENABLED = ['Disabled', 'Once', 'Continuous'];
const COPYRIGHT = 'Copyright 2014-2022 DMTF. For the full DMTF copyright policy, see http://www.dmtf.org/about/policies/copyright.';

function serviceRoot() {
  return {
    '@odata.type': '#ServiceRoot.v1_15_0.ServiceRoot',
    Id: 'RootService',
    Name: 'Root Service',
    RedfishVersion: '1.15.0',
    UUID: '92384634-2938-2342-8820-489239905423',
    Systems: { '@odata.id': `${ROOT}/Systems` },
    Chassis: { '@odata.id': `${ROOT}/Chassis` },
    Managers: { '@odata.id': `${ROOT}/Managers` },
    SessionService: { '@odata.id': `${ROOT}/SessionService` },
    Links: { Sessions: { '@odata.id': SESSIONS } },
    '@odata.id': `${ROOT}/`,
    '@Redfish.Copyright': COPYRIGHT,
  };
}

function collection(type: string, name: string, id: string, members: string[]) {
  return { '@odata.type': type, Name: name, 'Members@odata.count': members.length, Members: members.map((m) => ({ '@odata.id': m })), '@odata.id': id, '@Redfish.Copyright': COPYRIGHT };
}

function computerSystem(powerState: string, boot: RedfishBoot) {
  return {
    '@odata.type': '#ComputerSystem.v1_20_0.ComputerSystem',
    Id: SYSTEM_ID,
    Name: 'WebFrontEnd483',
    SystemType: 'Physical',
    Manufacturer: 'Contoso',
    Model: '3500',
    SerialNumber: SYSTEM_ID,
    UUID: '38947555-7742-3448-3784-823347823834',
    HostName: 'web483',
    Status: { State: 'Enabled', Health: 'OK', HealthRollup: 'OK' },
    PowerState: powerState,
    Boot: { ...boot, 'BootSourceOverrideTarget@Redfish.AllowableValues': BOOT_TARGETS, BootSourceOverrideMode: 'UEFI' },
    EthernetInterfaces: { '@odata.id': `${SYSTEM}/EthernetInterfaces` },
    Links: { Chassis: [{ '@odata.id': `${ROOT}/Chassis/1U` }], ManagedBy: [{ '@odata.id': `${ROOT}/Managers/BMC` }] },
    Actions: { '#ComputerSystem.Reset': { target: RESET, 'ResetType@Redfish.AllowableValues': RESET_TYPES } },
    '@odata.id': SYSTEM,
    '@Redfish.Copyright': COPYRIGHT,
  };
}

function session(id: string, user: string) {
  return { '@odata.type': '#Session.v1_6_0.Session', Id: id, Name: 'User Session', Description: 'Manager User Session', UserName: user, '@odata.id': `${SESSIONS}/${id}` };
}

/** A Redfish error answer with one ExtendedInfo message (Base registry ids). */
function sendError(res: ServerResponse, status: number, messageId: string, message: string, extraHeaders: Record<string, string> = {}) {
  const body = {
    error: {
      code: `Base.1.8.${messageId}`,
      message: 'A general error has occurred. See ExtendedInfo for more information.',
      '@Message.ExtendedInfo': [{ '@odata.type': '#Message.v1_1_1.Message', MessageId: `Base.1.8.${messageId}`, Message: message, Severity: 'Critical', Resolution: 'None.' }],
    },
  };
  res.writeHead(status, { 'content-type': 'application/json', ...extraHeaders }).end(JSON.stringify(body));
}

/** The answer, but an error's message says what the request carried (see echoCredentials). */
function echoing(res: ServerResponse, req: IncomingMessage, password: string): ServerResponse {
  const end = res.end.bind(res);
  const told = ` (request carried Authorization: ${req.headers.authorization ?? '-'}; password=${encodeURIComponent(password)})`;
  res.end = ((chunk: unknown, ...rest: unknown[]) => {
    if (res.statusCode >= 400 && typeof chunk === 'string' && chunk.includes('"Message"')) chunk = chunk.replace(/("Message":"[^"]*)"/, `$1${told.replaceAll('"', '')}"`);
    return (end as (...a: unknown[]) => ServerResponse)(chunk, ...rest);
  }) as ServerResponse['end'];
  return res;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', 'odata-version': '4.0', ...headers }).end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<any> {
  let text = '';
  for await (const chunk of req) text += chunk;
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return Symbol.for('malformed');
  }
}

function selfSignedCert(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'redfish-emu-'));
  try {
    const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    return { key: readFileSync(key), cert: readFileSync(cert) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startRedfishEmulator(o: RedfishEmulatorOptions = {}): Promise<RedfishEmulator> {
  const user = 'root';
  const password = o.password ?? `pw-${randomBytes(12).toString('hex')}`;
  const s: RedfishEmulatorState = {
    powerState: o.powerState ?? 'Off',
    boot: { BootSourceOverrideEnabled: 'Disabled', BootSourceOverrideTarget: 'None' },
    resets: [],
    bootPatches: [],
    openSessions: 0,
    tokens: [],
    requests: [],
  };
  const sessions = new Map<string, { id: string; token: string }>(); // by id
  let hung = false;
  const held = new Set<ServerResponse>();
  let nextSession = 1;

  function authOf(req: IncomingMessage): 'basic' | 'session' | 'none' | 'bad' {
    const token = req.headers['x-auth-token'];
    if (typeof token === 'string') return [...sessions.values()].some((x) => x.token === token) ? 'session' : 'bad';
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
    if (basic) return Buffer.from(basic[1], 'base64').toString() === `${user}:${password}` ? 'basic' : 'bad';
    return 'none';
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    if (hung) {
      held.add(res);
      res.once('close', () => held.delete(res));
      return;
    }
    const path = new URL(req.url ?? '/', 'http://bmc').pathname.replace(/(.)\/+$/, '$1');
    const method = req.method ?? 'GET';
    const auth = authOf(req);
    const body = await readJson(req);
    if (o.echoCredentials) res = echoing(res, req, password);
    s.requests.push(`${method} ${path} ${auth === 'bad' ? 'none' : auth}`);
    if (body === Symbol.for('malformed')) return sendError(res, 400, 'MalformedJSON', 'The request body submitted was malformed JSON and could not be parsed by the receiving service.');

    if (method === 'GET' && (path === ROOT || path === `${ROOT}/`)) return sendJson(res, 200, serviceRoot());
    if (method === 'POST' && path === SESSIONS) {
      if (body?.UserName !== user || body?.Password !== password) {
        return sendError(res, 401, 'ResourceAtUriUnauthorized', `While accessing the resource at ${SESSIONS}, the service received an authorization error: invalid user name or password.`);
      }
      const id = String(nextSession++);
      const token = randomBytes(16).toString('hex');
      sessions.set(id, { id, token });
      s.tokens.push(token);
      return sendJson(res, 201, session(id, user), { 'x-auth-token': token, location: `${SESSIONS}/${id}` });
    }
    if (auth !== 'basic' && auth !== 'session') {
      return sendError(res, 401, 'NoValidSession', 'There is no valid session established with the implementation.', { 'www-authenticate': 'Basic realm="redfish"' });
    }

    const sessionMatch = new RegExp(`^${SESSIONS}/([^/]+)$`).exec(path);
    switch (true) {
      case method === 'GET' && path === `${ROOT}/Systems`:
        return sendJson(res, 200, collection('#ComputerSystemCollection.ComputerSystemCollection', 'Computer System Collection', `${ROOT}/Systems`, [SYSTEM]));
      case method === 'GET' && path === SYSTEM:
        return sendJson(res, 200, computerSystem(s.powerState, s.boot));
      case method === 'GET' && path === SESSIONS:
        return sendJson(res, 200, collection('#SessionCollection.SessionCollection', 'Session Collection', SESSIONS, [...sessions.keys()].map((id) => `${SESSIONS}/${id}`)));
      case method === 'DELETE' && sessionMatch !== null:
        if (!sessions.delete(sessionMatch![1])) return sendError(res, 404, 'ResourceNotFound', `The requested resource of type Session named '${sessionMatch![1]}' was not found.`);
        return res.writeHead(204).end();
      case method === 'POST' && path === RESET:
        if (o.resetDelayMs) await new Promise((r) => setTimeout(r, o.resetDelayMs));
        return reset(res, body);
      case method === 'PATCH' && path === SYSTEM:
        return patchSystem(res, body);
    }
    if ([`${ROOT}/Systems`, SYSTEM, SESSIONS, RESET].includes(path) || sessionMatch) {
      return sendError(res, 405, 'OperationNotAllowed', `The HTTP method ${method} is not allowed on ${path}.`);
    }
    return sendError(res, 404, 'ResourceNotFound', `The requested resource of type Resource named '${path}' was not found.`);
  }

  function reset(res: ServerResponse, body: any) {
    const type = body?.ResetType;
    if (typeof type !== 'string') return sendError(res, 400, 'ActionParameterMissing', 'The action ComputerSystem.Reset requires the parameter ResetType to be present in the request body.');
    if (!RESET_TYPES.includes(type)) return sendError(res, 400, 'ActionParameterValueNotInList', `The value '${type}' for the parameter ResetType in the action ComputerSystem.Reset is not in the list of acceptable values.`);
    const on = s.powerState === 'On';
    const conflict = (msg: string) => sendError(res, 409, 'ResourceInUse', msg);
    if ((type === 'On' || type === 'ForceOn') && on) return conflict('The system is already powered on.');
    if ((type === 'ForceOff' || type === 'GracefulShutdown') && !on) return conflict('The system is already powered off.');
    if ((type === 'GracefulRestart' || type === 'ForceRestart') && !on) return conflict('The system is powered off and cannot be restarted.');
    if (type === 'PushPowerButton') s.powerState = on ? 'Off' : 'On';
    else if (type !== 'Nmi') s.powerState = type === 'ForceOff' || type === 'GracefulShutdown' ? 'Off' : 'On';
    s.resets.push(type);
    res.writeHead(204).end();
  }

  function patchSystem(res: ServerResponse, body: any) {
    if (!body || typeof body !== 'object' || Object.keys(body).length === 0) return sendError(res, 400, 'MalformedJSON', 'The request body is empty or not an object.');
    for (const k of Object.keys(body)) if (k !== 'Boot') return sendError(res, 400, 'PropertyNotWritable', `The property ${k} is a read only property and cannot be assigned a value.`);
    const boot = body.Boot;
    if (!boot || typeof boot !== 'object') return sendError(res, 400, 'PropertyValueTypeError', 'The value for the property Boot is of a different type than the property can accept.');
    const next = { ...s.boot };
    for (const [k, v] of Object.entries(boot)) {
      const allowed = k === 'BootSourceOverrideTarget' ? BOOT_TARGETS : k === 'BootSourceOverrideEnabled' ? BOOT_ENABLED : undefined;
      if (!allowed) return sendError(res, 400, 'PropertyUnknown', `The property ${k} is not in the list of valid properties for the resource.`);
      if (typeof v !== 'string' || !allowed.includes(v)) return sendError(res, 400, 'PropertyValueNotInList', `The value '${String(v)}' for the property ${k} is not in the list of acceptable values.`);
      next[k as keyof RedfishBoot] = v;
    }
    s.boot = next;
    s.bootPatches.push({ ...next });
    return sendJson(res, 200, computerSystem(s.powerState, s.boot));
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) sendError(res, 500, 'InternalError', `The request failed due to an internal service error: ${(err as Error).message}`);
    });
  };
  const server: Server = o.tls ? createHttpsServer(selfSignedCert(), listener) : createHttpServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `${o.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    user,
    password,
    systemId: SYSTEM_ID,
    state: () => ({ ...s, boot: { ...s.boot }, resets: [...s.resets], bootPatches: [...s.bootPatches], openSessions: sessions.size, tokens: [...s.tokens], requests: [...s.requests] }),
    hang(on) {
      hung = on;
      if (!on) for (const res of held) res.destroy();
    },
    async close() {
      hung = false;
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
