/**
 * Opens the SSH connection and the interactive shell of a CLI switch
 * (the `ssh2` package, in-process: no `ssh` child, so no password in any
 * argv). Authentication: "none" first (some Dell switches let anyone in and
 * ask in the shell), then the private key if there is one, the password,
 * and keyboard-interactive answered with the password. The host key is
 * checked (./host-keys.ts) from ssh2's hostVerifier, so a refused key ends
 * the handshake before any credential is sent.
 */
import type ssh2 from 'ssh2';
import type { ClientChannel, ConnectConfig } from 'ssh2';
import { SwitchError } from '../../../errors.ts';
import { checkHostKey, fingerprintOf, type HostKeyPolicy } from './host-keys.ts';

/** Algorithms older switch firmware (PowerConnect 55xx) may need, offered after ssh2's modern defaults. */
const LEGACY_ALGORITHMS = {
  kex: { append: ['diffie-hellman-group14-sha1', 'diffie-hellman-group-exchange-sha1', 'diffie-hellman-group1-sha1'] },
  cipher: { append: ['aes128-cbc', 'aes256-cbc'] },
  serverHostKey: { append: ['ssh-dss'] },
} as unknown as ConnectConfig['algorithms'];

/** Where a CLI switch is and how to log in to it (the fields ./ssh-cli.ts takes too). */
export interface SshLogin {
  host: string;
  port: number;
  username: string;
  password: string;
  privateKey?: string;
  /** Names the switch in messages: 'nexus switch "sw1"'. */
  label: string;
  /** How the switch's host key is checked (pinned, or recorded on first use). */
  hostKey: Omit<HostKeyPolicy, 'label'>;
}

export interface ShellOptions extends SshLogin {
  /** The handshake's own limit (the caller bounds the whole login too). */
  readyTimeoutMs: number;
}

export interface ShellEvents {
  onData(chunk: Buffer): void;
  /** The connection or the shell went away (after the shell opened, or before: then the promise also rejects). */
  onClosed(why: string): void;
}

/** Connects `client` and opens a shell on it; rejects with a SwitchError that says why not (never with a credential in it). */
export function openShell(client: InstanceType<typeof ssh2.Client>, o: ShellOptions, events: ShellEvents): Promise<ClientChannel> {
  let hostKeyRefusal: string | null = null;
  return new Promise<ClientChannel>((resolve, reject) => {
    const fail = (why: string) => {
      events.onClosed(why);
      // A host-key refusal is a whole message (it names the switch first); others get the switch's name.
      reject(new SwitchError(hostKeyRefusal ?? `${o.label}: ${why}`));
    };
    client.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => o.password)));
    client.once('ready', () => {
      // Commands are a few bytes each, answered at once: Nagle's algorithm would hold each back for an ACK.
      client.setNoDelay(true);
      // A wide terminal, so that switches neither wrap nor scroll long command echoes.
      client.shell({ term: 'vt100', cols: 511, rows: 24 }, (err, stream) => {
        if (err) return fail(`the switch refused an interactive shell: ${err.message}`);
        stream.on('data', (d: Buffer) => events.onData(d));
        stream.stderr.on('data', (d: Buffer) => events.onData(d));
        stream.on('close', () => events.onClosed('the switch closed the connection'));
        resolve(stream);
      });
    });
    client.on('error', (err: Error & { level?: string }) => {
      if (hostKeyRefusal !== null) return fail('its SSH host key was refused');
      if (err.level === 'client-authentication') return fail(`the switch refused the login of user ${JSON.stringify(o.username)} (wrong password or key?)`);
      fail(`cannot connect to ${o.host}:${o.port}: ${err.message}`);
    });
    client.on('close', () => fail(hostKeyRefusal !== null ? 'its SSH host key was refused' : `the connection to ${o.host}:${o.port} closed`));
    client.connect({
      host: o.host,
      port: o.port,
      username: o.username,
      password: o.password,
      privateKey: o.privateKey,
      authHandler: o.privateKey ? ['none', 'publickey', 'password', 'keyboard-interactive'] : ['none', 'password', 'keyboard-interactive'],
      readyTimeout: o.readyTimeoutMs,
      algorithms: LEGACY_ALGORITHMS,
      hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
        checkHostKey({ ...o.hostKey, label: o.label }, fingerprintOf(key)).then(
          (refusal) => {
            hostKeyRefusal = refusal;
            verify(refusal === null);
          },
          (err: Error) => {
            hostKeyRefusal = `${o.label}: cannot check the switch's SSH host key: ${err.message}`;
            verify(false);
          },
        );
      },
    });
  });
}
