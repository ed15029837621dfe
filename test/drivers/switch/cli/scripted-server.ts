/**
 * A tiny scripted "switch" for the SSH session layer's own tests: an ssh2
 * Server on 127.0.0.1 with a toy CLI (not any vendor's; the vendor
 * emulators live in test/support/switch-emulators/). It keeps a port VLAN
 * table, a running and a saved copy, every line typed, and can be told to
 * misbehave: page its output, stop answering, ignore a command, refuse
 * VLANs, fail its save, ask for the login inside the shell.
 *
 * The toy CLI:
 *   exec ">"          enable
 *   exec "#"          terminal length 0 | show port <p> | show lines <n> | hang |
 *                     configure terminal | copy running-config startup-config
 *   config "(config)#"     vlan <n>[,<n>…] | interface <p> | end | exit
 *   interface "(config-if)#"  native <n> | no native | tagged add <n> | tagged remove <n> | exit | end
 * Anything else: "% Invalid input detected at '^' marker."
 */
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import ssh2 from 'ssh2';
import type { Connection, ServerChannel } from 'ssh2';

const { Server, utils } = ssh2;

export interface ToyPort {
  native: number | null;
  tagged: number[];
}

export interface ScriptedOptions {
  hostname?: string;
  /** The SSH layer's credentials (a password, and a public key in OpenSSH form), or 'any' (let everyone in, then ask in the shell: "User Name:" / "Password:"). */
  auth: { username: string; password: string; publicKey?: string } | 'any';
  /** The in-shell dialog's credentials when auth is 'any'. */
  shellLogin?: { username: string; password: string };
  /** Start at the ">" prompt (user exec) rather than "#". */
  userExec?: boolean;
  /** Page output longer than this many lines until "terminal length 0" (0: never page). */
  pageLines?: number;
  /** The pager text and how it is erased after the space. */
  pager?: { text: string; erase: string };
  ports?: Record<string, ToyPort>;
  hostKey?: string;
  banner?: string;
}

export interface ScriptedSwitch {
  readonly port: number;
  readonly fingerprint: string;
  /** Every line typed, in order, across all sessions. */
  readonly typed: string[];
  /** Single keys typed as answers to a question. */
  readonly keys: string[];
  /** What the in-shell login dialog received. */
  readonly shellCredentials: { username: string; password: string }[];
  /** SSH password attempts the server saw (to prove none were sent). */
  readonly authAttempts: string[];
  readonly running: Map<string, ToyPort>;
  readonly saved: Map<string, ToyPort>;
  /** Public-key authentication requests with the allowed key. */
  keyLogins: number;
  /** How many shells were opened (logins). */
  logins: number;
  /** Open connections now. */
  readonly connections: number;
  faults: {
    /** Stop answering from the next line typed: no echo, no output, no prompt. */
    silent?: boolean;
    /** Commands taken without error and without effect ("native" on a port: a read-back mismatch). */
    ignore?: (line: string, port: string | null) => boolean;
    /** VLANs the switch refuses with "% VLAN <n> is reserved". */
    reservedVlans?: number[];
    /** The copy prints this instead of "Copy succeeded". */
    saveFails?: boolean;
    /** Before echoing the next line, print a log message and the prompt again, as switches do when a message arrives at the prompt. */
    strayPrompt?: boolean;
  };
  close(): Promise<void>;
}

/**
 * A fresh ed25519 key pair (OpenSSH format). ssh2 1.17's generator strips
 * a leading zero byte off the public key, so one pair in 256 is one its own
 * parser calls malformed (mscdex/ssh2#1390, #1513), and the Server refuses
 * it: draw again until both halves parse.
 */
export function newKeyPair(): { private: string; public: string } {
  for (;;) {
    const pair = utils.generateKeyPairSync('ed25519');
    if (!(utils.parseKey(pair.private) instanceof Error) && !(utils.parseKey(pair.public) instanceof Error)) return pair;
  }
}

export const newHostKey = (): string => newKeyPair().private;

export function fingerprintOfKey(privateKey: string): string {
  const parsed = utils.parseKey(privateKey);
  if (parsed instanceof Error) throw parsed;
  const key = Array.isArray(parsed) ? parsed[0]! : parsed;
  // Computed independently of the code under test (host-keys.ts), with OpenSSH's definition.
  return `SHA256:${Buffer.from(hashSha256(key.getPublicSSH())).toString('base64').replace(/=+$/, '')}`;
}

const hashSha256 = (b: Buffer) => createHash('sha256').update(b).digest();

const clone = (p: ToyPort): ToyPort => ({ native: p.native, tagged: [...p.tagged] });

export async function startScripted(o: ScriptedOptions): Promise<ScriptedSwitch> {
  const hostKey = o.hostKey ?? newHostKey();
  const hostname = o.hostname ?? 'toy-sw1';
  const conns = new Set<Connection>();
  const running = new Map(Object.entries(o.ports ?? { 'gi1/0/1': { native: null, tagged: [] } }).map(([k, v]) => [k, clone(v)]));
  const s: ScriptedSwitch = {
    port: 0,
    fingerprint: fingerprintOfKey(hostKey),
    typed: [],
    keys: [],
    shellCredentials: [],
    authAttempts: [],
    running,
    saved: new Map([...running].map(([k, v]) => [k, clone(v)])),
    logins: 0,
    keyLogins: 0,
    get connections() {
      return conns.size;
    },
    faults: {},
    close: async () => {},
  };

  const server = new Server({ hostKeys: [hostKey] }, (conn) => {
    conns.add(conn);
    (conn as unknown as { setNoDelay(on: boolean): void }).setNoDelay(true); // as a switch's TCP stack: no Nagle delay per echoed key
    conn.on('error', () => {});
    conn.on('close', () => conns.delete(conn));
    conn.on('authentication', (ctx) => {
      if (ctx.method === 'password') s.authAttempts.push(ctx.password);
      if (o.auth === 'any') return ctx.accept();
      if (ctx.method === 'password' && ctx.username === o.auth.username && ctx.password === o.auth.password) return ctx.accept();
      if (ctx.method === 'publickey' && o.auth.publicKey && ctx.username === o.auth.username) {
        const allowed = utils.parseKey(o.auth.publicKey);
        if (!(allowed instanceof Error) && !Array.isArray(allowed) && ctx.key.algo === allowed.type && ctx.key.data.equals(allowed.getPublicSSH())) {
          s.keyLogins++;
          if (!ctx.signature) return ctx.accept(); // the client asks whether the key would do
          if (allowed.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) === true) return ctx.accept();
        }
      }
      return ctx.reject(o.auth.publicKey ? ['publickey', 'password'] : ['password']);
    });
    conn.on('ready', () => {
      conn.on('session', (accept) => {
        const session = accept();
        session.on('pty', (ok) => ok?.());
        session.on('shell', (ok) => {
          s.logins++;
          runShell(ok(), s, o, hostname);
        });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  (s as { port: number }).port = (server.address() as AddressInfo).port;
  s.close = () =>
    new Promise<void>((resolve) => {
      for (const c of conns) c.end();
      server.close(() => resolve());
    });
  return s;
}

type Mode = 'login-user' | 'login-password' | 'user' | 'exec' | 'config' | 'if' | 'confirm';

function runShell(ch: ServerChannel, s: ScriptedSwitch, o: ScriptedOptions, hostname: string): void {
  let mode: Mode = o.auth === 'any' ? 'login-user' : o.userExec ? 'user' : 'exec';
  let paging = (o.pageLines ?? 0) > 0;
  let iface: string | null = null;
  let pending = '';
  let shellUser = '';
  let pendingPages: string[] = [];
  const pager = o.pager ?? { text: '--More--', erase: '\b'.repeat(8) + ' '.repeat(8) + '\b'.repeat(8) };
  const w = (t: string) => ch.write(t);
  const prompt = () => {
    if (mode === 'login-user') return 'User Name:';
    if (mode === 'login-password') return 'Password:';
    const suffix = mode === 'config' ? '(config)#' : mode === 'if' ? `(config-if-${iface})#` : mode === 'user' ? '>' : '#';
    return `${hostname}${suffix} `;
  };
  const say = (lines: string[]) => {
    const all = lines.map((l) => `${l}\r\n`);
    const n = o.pageLines ?? 0;
    if (paging && n > 0 && all.length > n) {
      pendingPages = [];
      for (let i = n; i < all.length; i += n) pendingPages.push(all.slice(i, i + n).join(''));
      w(all.slice(0, n).join('') + pager.text);
      return;
    }
    w(all.join('') + prompt());
  };
  const invalid = () => say(["% Invalid input detected at '^' marker."]);

  if (o.banner) w(o.banner);
  w(mode === 'login-user' ? '\r\nUser Name:' : `\r\n${prompt()}`);

  ch.on('data', (d: Buffer) => {
    if (s.faults.silent) return;
    for (const c of d.toString('latin1')) {
      if (pendingPages.length > 0) {
        // The pager takes one key: a space shows the next page.
        w(pager.erase);
        const next = pendingPages.shift()!;
        w(pendingPages.length > 0 ? next + pager.text : next + prompt());
        continue;
      }
      if (mode === 'confirm') {
        s.keys.push(c);
        w(`${c}\r\n`);
        mode = 'exec';
        if (/[Yy]/.test(c)) {
          if (s.faults.saveFails) say(['% Copy failed: flash is full']);
          else {
            s.saved.clear();
            for (const [k, v] of s.running) s.saved.set(k, clone(v));
            say(['Copy succeeded']);
          }
        } else say(['Copy aborted']);
        continue;
      }
      if (c === '\r' || c === '\n') {
        const line = pending;
        pending = '';
        w('\r\n');
        onLine(line.trim());
      } else {
        if (pending === '' && s.faults.strayPrompt) {
          s.faults.strayPrompt = false;
          w(`\r\n%LINK-3-UPDOWN: Interface gi1/0/7, changed state to up\r\n${prompt()}`);
        }
        pending += c;
        if (mode !== 'login-password') w(c); // echo, as a terminal does; never the password
      }
    }
  });

  function onLine(line: string): void {
    if (s.faults.silent) return;
    if (mode === 'login-user') {
      shellUser = line;
      mode = 'login-password';
      return void w('Password:');
    }
    if (mode === 'login-password') {
      s.shellCredentials.push({ username: shellUser, password: line });
      const want = o.shellLogin;
      if (want && (shellUser !== want.username || line !== want.password)) {
        mode = 'login-user';
        return void w('% Authentication failed\r\n\r\nUser Name:');
      }
      mode = o.userExec ? 'user' : 'exec';
      return void w(prompt());
    }
    s.typed.push(line);
    if (line === '') return void w(prompt());
    const port = iface;
    if (s.faults.ignore?.(line, port)) return void w(prompt());
    const words = line.split(/\s+/);
    if (mode === 'user') {
      if (line === 'enable') mode = 'exec';
      else return invalid();
      return void w(prompt());
    }
    if (mode === 'exec') {
      if (line === 'terminal length 0') paging = false;
      else if (words[0] === 'show' && words[1] === 'port' && words[2]) {
        const p = s.running.get(words[2]);
        if (!p) return say([`% No such port: ${words[2]}`]);
        return say([`Port ${words[2]}`, `Native VLAN: ${p.native ?? 'none'}`, `Tagged VLANs: ${p.tagged.length ? p.tagged.join(',') : 'none'}`]);
      } else if (words[0] === 'show' && words[1] === 'lines') {
        return say(Array.from({ length: Number(words[2]) }, (_, i) => `line ${i + 1}`));
      } else if (line === 'hang') return;
      else if (line === 'configure terminal') mode = 'config';
      else if (line === 'copy running-config startup-config') {
        mode = 'confirm';
        return void w('Overwrite file [startup-config] ?[Yes/press any key for no]');
      } else return invalid();
      return void w(prompt());
    }
    if (line === 'end') {
      mode = 'exec';
      iface = null;
      return void w(prompt());
    }
    if (mode === 'config') {
      if (line === 'exit') mode = 'exec';
      else if (words[0] === 'vlan' && words[1]) {
        const bad = words[1].split(',').map(Number).find((v) => s.faults.reservedVlans?.includes(v));
        if (bad !== undefined) return say([`% VLAN ${bad} is reserved`]);
      } else if (words[0] === 'interface' && words[1]) {
        if (!s.running.has(words[1])) return say([`% No such interface ${words[1]}`]);
        iface = words[1];
        mode = 'if';
      } else return invalid();
      return void w(prompt());
    }
    // interface mode
    const p = s.running.get(iface!)!;
    const vlan = Number(words[words.length - 1]);
    if (line === 'exit') {
      mode = 'config';
      iface = null;
    } else if (line === 'no native') p.native = null;
    else if (words[0] === 'native' || (words[0] === 'tagged' && (words[1] === 'add' || words[1] === 'remove'))) {
      if (s.faults.reservedVlans?.includes(vlan)) return say([`% VLAN ${vlan} is reserved`]);
      if (words[0] === 'native') {
        p.native = vlan;
        p.tagged = p.tagged.filter((t) => t !== vlan);
      } else if (words[1] === 'add') p.tagged = [...new Set([...p.tagged, vlan])].sort((a, b) => a - b);
      else p.tagged = p.tagged.filter((t) => t !== vlan);
    } else return invalid();
    w(prompt());
  }
}
