/** Where a headnode's files are, and what its taps are called (one place for the keeper, the VM and the console). */
import { join } from 'node:path';

export const TAP_PREFIX = 'hnt';
export const tapName = (hnicId: number) => `${TAP_PREFIX}${hnicId}`;

export const vmDir = (runDir: string, uuid: string) => join(runDir, uuid);

export const files = (dir: string) => ({
  pid: join(dir, 'qemu.pid'),
  qmp: join(dir, 'qmp.sock'),
  console: join(dir, 'console.sock'),
  log: join(dir, 'console.log'),
  overlay: join(dir, 'disk.qcow2'),
  seed: join(dir, 'seed.img'),
});
export const consoleLogPath = (dir: string) => files(dir).log;
export const consoleSocketPath = (dir: string) => files(dir).console;
