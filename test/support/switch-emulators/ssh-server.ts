/**
 * The SSH side of a CLI emulator: an ssh2 Server on 127.0.0.1 (a random
 * port) with its own host key, password authentication, and an interactive
 * shell per `pty` + `shell` request, handed to the caller (cli-engine.ts)
 * as a plain text stream. Nothing here knows about any vendor.
 */
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import ssh2 from 'ssh2';
import type { Connection, ServerChannel } from 'ssh2';

const { Server, utils } = ssh2;

/** One interactive shell: what the client types arrives on onData; write() goes to its screen. */
export interface SshShell {
  /** The user the SSH layer authenticated (or the one given with auth "any"). */
  readonly username: string;
  write(text: string): void;
  onData(listener: (chunk: string) => void): void;
  /** Called once when the channel or its connection goes away (client left, dropSessions, close). */
  onClose(listener: () => void): void;
  /** Ends the shell and its connection, as a switch does after `exit`. */
  end(): void;
}

export interface SshServerOptions {
  /** 0 or absent: any free port. */
  listenPort?: number;
  /** A private host key (OpenSSH, PEM PKCS#1/8); default: a new ed25519 key. */
  hostKey?: string;
  /**
   * Credentials checked at the SSH layer (a wrong password fails the
   * handshake), or "any" for switches that ask in the shell instead
   * ("User Name:"): then "none" and any password are let in.
   */
  auth: { username: string; password: string } | 'any';
  onShell(shell: SshShell): void;
}

export interface RunningSshServer {
  readonly port: number;
  /** The host key as OpenSSH shows it: "SHA256:" + unpadded base64 of the SHA-256 of the public key blob. */
  readonly hostKeyFingerprint: string;
  /** Ends every connection at once. */
  dropSessions(): void;
  close(): Promise<void>;
}

/** The OpenSSH fingerprint of a public key blob (the wire form, as in authorized_keys after the type). */
export function sshFingerprint(publicKeyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(publicKeyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** A fresh ed25519 host key, OpenSSH private format. */
export function generateHostKey(): string {
  // ssh2 1.17 writes about one ed25519 key in 256 that its own parser then
  // refuses ("Malformed OpenSSH private key"): make another.
  for (;;) {
    const pair = utils.generateKeyPairSync('ed25519');
    if (!(utils.parseKey(pair.private) instanceof Error) && !(utils.parseKey(pair.public) instanceof Error)) return pair.private;
  }
}

/** The fingerprint of a private host key. */
export function hostKeyFingerprint(privateKey: string): string {
  const parsed = utils.parseKey(privateKey);
  if (parsed instanceof Error) throw new Error(`bad host key: ${parsed.message}`);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  return sshFingerprint(key.getPublicSSH());
}

export async function startSshServer(o: SshServerOptions): Promise<RunningSshServer> {
  const hostKey = o.hostKey ?? generateHostKey();
  const connections = new Set<Connection>();

  const server = new Server({ hostKeys: [hostKey] }, (conn) => {
    connections.add(conn);
    // A switch answers each command in small writes; Nagle's algorithm would hold each one for the peer's delayed ACK (~40 ms).
    (conn as unknown as { _sock?: { setNoDelay?(on: boolean): void } })._sock?.setNoDelay?.(true);
    let username = '';
    conn.on('error', () => {}); // a client that vanishes mid-handshake is not the emulator's problem
    conn.on('close', () => connections.delete(conn));
    conn.on('authentication', (ctx) => {
      if (o.auth === 'any') {
        username = ctx.username;
        return ctx.accept();
      }
      if (ctx.method === 'password' && ctx.username === o.auth.username && ctx.password === o.auth.password) {
        username = ctx.username;
        return ctx.accept();
      }
      ctx.reject(['password']);
    });
    conn.on('ready', () => {
      conn.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('pty', (accept) => accept?.());
        session.on('window-change', (accept) => accept?.());
        session.on('env', (accept) => accept?.());
        session.on('shell', (accept) => {
          const channel = accept();
          o.onShell(shellOf(channel, conn, username));
        });
        // A switch CLI has no exec subsystem in our emulators: refuse it plainly.
        session.on('exec', (_accept, reject) => reject?.());
        session.on('subsystem', (_accept, reject) => reject?.());
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.listenPort ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    hostKeyFingerprint: hostKeyFingerprint(hostKey),
    dropSessions() {
      for (const c of connections) c.end();
    },
    close() {
      for (const c of connections) c.end();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function shellOf(channel: ServerChannel, conn: Connection, username: string): SshShell {
  channel.setEncoding('utf8');
  channel.on('error', () => {});
  let closed = false;
  const closeListeners: (() => void)[] = [];
  const closing = () => {
    if (closed) return;
    closed = true;
    for (const l of closeListeners) l();
  };
  channel.on('close', closing);
  conn.on('close', closing);
  return {
    username,
    write(text) {
      if (!closed && channel.writable) channel.write(text);
    },
    onData(listener) {
      channel.on('data', (chunk: string | Buffer) => listener(String(chunk)));
    },
    onClose(listener) {
      closeListeners.push(listener);
    },
    end() {
      if (closed) return;
      // The exit status first, as OpenSSH servers send it, then the connection goes.
      try {
        channel.exit(0);
        channel.end();
      } catch {
        /* already gone */
      }
      conn.end();
    },
  };
}
