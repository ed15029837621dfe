/**
 * A tenant's laptop for VPN tests: a network namespace cabled to the host by
 * a private /30 (the host's side is the VPN endpoint's address), running its
 * own wireguard-go, configured from the wg-quick file HIL hands out (Address
 * and the routes to AllowedIPs set as wg-quick would).
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TenantLaptop {
  ns: string;
  /** The host's address on the laptop's cable: what `[vpn] endpoint` names. */
  hostIp: string;
  wg: string;
  configure(wgQuick: string): void;
  /** A fresh daemon (a laptop that forgot its state). */
  restartDaemon(): Promise<void>;
  /** Runs a command inside the laptop. */
  run(cmd: string, args: string[], timeoutMs?: number): { status: number | null; stdout: string; stderr: string };
  cleanup(): void;
}

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 15_000 });

/** The laptop's side of a wg-quick file: wg(8) lines to setconf, Address and AllowedIPs to set by hand. */
export function splitWgQuick(config: string): { wg: string; address: string; allowedIps: string[] } {
  const address = /^Address\s*=\s*(.+)$/m.exec(config)?.[1]!.trim() ?? '';
  const allowedIps = (/^AllowedIPs\s*=\s*(.+)$/m.exec(config)?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return { wg: config.replace(/^Address\s*=.*$/m, ''), address, allowedIps };
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `tag`: a few characters that keep names apart (interface names are at most 15). */
export async function startTenantLaptop(tag: string, hostIp: string, laptopIp: string): Promise<TenantLaptop> {
  const ns = `hil-laptop-${tag}`;
  const wg = `hlw${tag}`;
  const hostIf = `hlh${tag}`;
  const scratch = mkdtempSync(join(tmpdir(), 'hil-laptop-'));
  let daemon: ChildProcess | undefined;
  const laptop: TenantLaptop = {
    ns,
    hostIp,
    wg,
    configure(config) {
      const c = splitWgQuick(config);
      // A file, not /dev/stdin: Node gives a child a socket for stdin, which wg cannot open.
      const file = join(scratch, 'wg.conf');
      writeFileSync(file, c.wg, { mode: 0o600 });
      sh('wg', ['setconf', wg, file]);
      rmSync(file);
      sh('ip', ['-n', ns, 'addr', 'replace', c.address, 'dev', wg]);
      sh('ip', ['-n', ns, 'link', 'set', wg, 'up']);
      for (const net of c.allowedIps) sh('ip', ['-n', ns, 'route', 'replace', net, 'dev', wg]);
    },
    async restartDaemon() {
      daemon?.kill('SIGKILL');
      await waitFor(() => spawnSync('ip', ['-n', ns, 'link', 'show', wg], { stdio: 'ignore' }).status !== 0, 'the old laptop daemon to exit');
      rmSync(`/var/run/wireguard/${wg}.sock`, { force: true });
      daemon = spawn('ip', ['netns', 'exec', ns, 'wireguard-go', wg], {
        stdio: 'ignore',
        env: { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1', WG_PROCESS_FOREGROUND: '1' },
      });
      await waitFor(() => spawnSync('wg', ['show', wg], { stdio: 'ignore' }).status === 0, 'the laptop wireguard-go to start');
    },
    run(cmd, args, timeoutMs = 30_000) {
      const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs });
      return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    },
    cleanup() {
      daemon?.kill('SIGKILL');
      rmSync(`/var/run/wireguard/${wg}.sock`, { force: true });
      spawnSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
      spawnSync('ip', ['link', 'delete', hostIf], { stdio: 'ignore' });
      rmSync(scratch, { recursive: true, force: true });
    },
  };
  try {
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    sh('ip', ['addr', 'add', `${hostIp}/30`, 'dev', hostIf]);
    sh('ip', ['link', 'set', hostIf, 'up']);
    sh('ip', ['-n', ns, 'addr', 'add', `${laptopIp}/30`, 'dev', 'eth0']);
    for (const dev of ['eth0', 'lo']) sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    await laptop.restartDaemon();
    return laptop;
  } catch (err) {
    laptop.cleanup();
    throw err;
  }
}
