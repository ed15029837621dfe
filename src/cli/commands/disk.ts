/** hil disk …: copy-on-write disks cloned from disk images, exported to the node using them, and their snapshots. */
import { chmod, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { Disk, HilClient, Image } from '../../client/index.ts';
import { CliError, waitTimeoutMs, type JsonOption } from '../context.ts';
import { define, defineChange, group } from '../define.ts';
import { printJson, printList, printTable, progress } from '../output.ts';

const MiB = 1024 * 1024;

export function diskCommands(program: Command, client: () => HilClient): void {
  const disk = group(program, 'disk', "Disks: copy-on-write clones of disk images, exported to the node using them", 'hil disk create web1-root debian-12 --project runway');

  defineChange(
    disk,
    'create <disk> <image>',
    'Create a disk from a disk image (made at once, whatever its size)',
    'hil disk create web1-root debian-12 --project runway',
    (name: string, image: string) => `Created disk ${name} from image ${image}.`,
    async (name: string, image: string, o: { project?: string }) => {
      if (!o.project) throw new CliError('give --project P: the project that owns the disk');
      const c = client();
      await c.disk.create(name, image, o.project);
      return c.disk.show(name);
    },
  ).option('--project <project>', 'the owner project');

  define(disk, 'list', "List the disks you can see (your projects'; admins: all), or one project's", 'hil disk list --project runway', async (o: JsonOption & { project?: string }) => {
    const names = await client().disk.list(o.project);
    o.json ? printJson(names) : printList(names);
  })
    .option('--project <project>', "only this project's disks")
    .option('--json', 'print JSON');

  define(disk, 'show <disk>', 'Show a disk: project, image, size, node and export', 'hil disk show web1-root', async (name: string, o: JsonOption) => {
    const d = await client().disk.show(name);
    if (o.json) return printJson(d);
    printDisk(d);
  }).option('--json', 'print JSON');

  defineChange(disk, 'delete <disk>', 'Delete a disk no node uses', 'hil disk delete web1-root', (name: string) => `Deleted disk ${name}.`, (name: string) => client().disk.delete(name));

  define(
    disk,
    'attach <disk> <node>',
    "Export the disk to a node of its project (NBD with TLS-PSK, or --iscsi with CHAP); prints where the node connects and its key (shown once: --psk-file saves it instead)",
    'hil disk attach web1-root web1 --psk-file web1.psk --wait',
    async (name: string, node: string, o: JsonOption & { pskFile?: string; wait?: boolean; iscsi?: string }) => {
      const c = client();
      const a = await c.disk.attach(name, node, o.iscsi === undefined ? {} : { protocol: 'iscsi', initiator: o.iscsi });
      if (o.pskFile) {
        await writeFile(o.pskFile, `${a.identity}:${a.key}\n`, { mode: 0o600 });
        await chmod(o.pskFile, 0o600); // the mode above applies only to a file it creates
      }
      if (o.wait) await waitServing(c, name);
      if (o.json) return printJson(o.pskFile ? { ...a, key: undefined } : a);
      printTable(['protocol', 'host', 'port', 'export', 'identity'], [[a.protocol, a.host, a.port, a.name, a.identity]]);
      if (o.pskFile) progress(`the node's key is in ${o.pskFile} (${a.protocol === 'iscsi' ? 'user:secret, for CHAP' : 'a keys.psk line: identity:key'})`);
      else process.stdout.write(`${a.protocol === 'iscsi' ? 'chap' : 'psk'}: ${a.identity}:${a.key}\n`);
    },
  )
    .option('--iscsi <initiator>', "serve it over iSCSI with CHAP, to the node's initiator name (iqn.…)")
    .option('--psk-file <file>', "write the node's key line (identity:key) to FILE (mode 0600) instead of printing it")
    .option('--wait', 'wait until the export serves')
    .option('--json', 'print JSON');

  defineChange(disk, 'detach <disk>', 'The node lets the disk go; its export stops', 'hil disk detach web1-root', (name: string) => `Detached disk ${name}.`, (name: string) => client().disk.detach(name));

  define(
    disk,
    'snapshot <disk> <image>',
    "Save the disk's current content as a new image of its project (no copy; the disk keeps running); waits until it is taken",
    'hil disk snapshot web1-root web1-golden',
    async (name: string, image: string, o: JsonOption & { wait: boolean }) => {
      const c = client();
      await c.disk.snapshot(name, image);
      if (!o.wait) return o.json ? printJson({ image, state: 'pending' }) : progress(`snapshot ${image} of ${name} asked for`);
      const img = await waitSnapshot(c, image, o.json ? () => {} : progress);
      if (o.json) return printJson(img);
      progress(`snapshot ${image} of disk ${name} is ready`);
    },
  )
    .option('--no-wait', 'return once asked for')
    .option('--json', 'print JSON');
}

function printDisk(d: Disk): void {
  process.stdout.write(`disk: ${d.name}\nproject: ${d.project}\nimage: ${d.image}\nsize: ${(d.size / MiB).toFixed(0)} MiB\nstate: ${d.state}\nnode: ${d.node ?? '(none)'}\n`);
  if (d.export) {
    const e = d.export;
    process.stdout.write(`export: ${e.protocol}://${e.host}:${e.port}/${e.name} identity ${e.identity}, ${e.state}${e.error ? `: ${e.error}` : ''}\n`);
  }
}

/** Polls the disk until its export serves (or failed, or the wait ran out). */
export async function waitServing(c: HilClient, name: string): Promise<void> {
  const deadline = Date.now() + waitTimeoutMs();
  for (;;) {
    const d = await c.disk.show(name);
    if (d.export?.state === 'serving') return;
    if (d.export?.state === 'failed') throw new CliError(`the export of disk ${name} failed: ${d.export.error ?? 'no reason given'}`);
    if (Date.now() > deadline) throw new CliError(`the export of disk ${name} is still ${d.export?.state ?? 'not set up'} after ${waitTimeoutMs() / 1000} s`);
    await sleep(200);
  }
}

/** Polls the snapshot's image until it is taken (and, where the backend separates it, says how far that is). */
export async function waitSnapshot(c: HilClient, image: string, say: (line: string) => void): Promise<Image> {
  const deadline = Date.now() + waitTimeoutMs();
  let said = '';
  for (;;) {
    const img = await c.image.show(image);
    if (img.state === 'ready') return img;
    const line = `snapshot ${image}: ${img.state}${img.error ? ` (the last try failed: ${img.error}; tried again)` : ''}`;
    if (line !== said) say((said = line));
    if (Date.now() > deadline) throw new CliError(`the snapshot ${image} is still ${img.state} after ${waitTimeoutMs() / 1000} s`);
    await sleep(200);
  }
}
