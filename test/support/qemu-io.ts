/**
 * Reads and writes a volume the way a client of the storage would, with
 * QEMU's own `qemu-io`: through a blockdev description (a backend's disk or
 * base), through an NBD export with the node's TLS-PSK identity, or through
 * an iSCSI target (QEMU's libiscsi initiator) with the node's initiator name
 * and CHAP account, from a network namespace if given. Keys and secrets go
 * in 0600 files, never on qemu-io's command line. Patterns: `write -P
 * <byte>` fills a range, `read -P <byte>` fails unless every byte of it is
 * that value.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlockdevOptions } from '../../src/drivers/storage/interface.ts';

export interface IoResult {
  ok: boolean;
  output: string;
}

export function qemuIoSkipReason(): string | undefined {
  return spawnSync('qemu-io', ['--version']).status === 0 ? undefined : 'qemu-io is not installed (apt-get install qemu-utils)';
}

function run(args: string[], netns?: string): IoResult {
  const [cmd, argv] = netns ? ['ip', ['netns', 'exec', netns, 'qemu-io', ...args]] : ['qemu-io', args];
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 60_000 });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  return { ok: r.status === 0 && !/verification failed|can't open|failed/i.test(output), output };
}

/** Runs qemu-io commands (`write -P 0x41 0 1M`, `read -P 0x41 0 1M`) on a blockdev. */
export function ioBlockdev(dev: BlockdevOptions, commands: string[]): IoResult {
  const readOnly = dev['read-only'] === true ? ['-r'] : [];
  return run([...readOnly, ...commands.flatMap((c) => ['-c', c]), `json:${JSON.stringify(dev)}`]);
}

export interface NbdTarget {
  host: string;
  port: number;
  export: string;
  identity: string;
  /** The TLS-PSK key, hex. */
  key: string;
}

/** Runs qemu-io commands on an NBD export, as the node with that identity and key would (from `netns` if given). */
export function ioNbd(t: NbdTarget, commands: string[], o: { netns?: string } = {}): IoResult {
  const dir = mkdtempSync(join(tmpdir(), 'hil-psk-'));
  try {
    writeFileSync(join(dir, 'keys.psk'), `${t.identity}:${t.key}\n`, { mode: 0o600 });
    return run(
      [
        '--object',
        `tls-creds-psk,id=tls0,endpoint=client,dir=${dir},username=${t.identity}`,
        '--image-opts',
        `driver=nbd,server.type=inet,server.host=${t.host},server.port=${t.port},export=${t.export},tls-creds=tls0`,
        ...commands.flatMap((c) => ['-c', c]),
      ],
      o.netns,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface IscsiTarget {
  /** host:port */
  portal: string;
  /** The target's name (IscsiServer.iqn). */
  iqn: string;
  lun?: number;
  /** The initiator name to log in with. */
  initiator: string;
  /** The CHAP account to answer with; without it, the initiator offers no CHAP. */
  chap?: { user: string; secret: string };
}

/** Runs qemu-io commands on an iSCSI LUN, as the node with that initiator name and CHAP account would (from `netns` if given). */
export function ioIscsi(t: IscsiTarget, commands: string[], o: { netns?: string } = {}): IoResult {
  const dir = mkdtempSync(join(tmpdir(), 'hil-chap-'));
  try {
    const dev: Record<string, unknown> = { driver: 'iscsi', transport: 'tcp', portal: t.portal, target: t.iqn, lun: t.lun ?? 1, 'initiator-name': t.initiator };
    const objects: string[] = [];
    if (t.chap) {
      writeFileSync(join(dir, 'secret'), t.chap.secret, { mode: 0o600 });
      objects.push('--object', `secret,id=chap0,file=${join(dir, 'secret')}`);
      Object.assign(dev, { user: t.chap.user, 'password-secret': 'chap0' });
    }
    return run([...objects, ...commands.flatMap((c) => ['-c', c]), `json:${JSON.stringify(dev)}`], o.netns);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
