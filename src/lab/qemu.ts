/**
 * A lab node is a QEMU process. This module knows its command line, how to
 * tell whether KVM really works here, and how to speak QMP to it.
 *
 * Console: the serial port connects to the lab's serial relay (the cable to
 * the BMC, serial-relay.ts), with a log file that records everything the
 * node printed, whoever listens. SeaBIOS's "sercon" mirrors the firmware's and iPXE's
 * text screen to the same serial port, so a node that finds no boot server
 * says so on its console rather than on a screen nobody sees.
 */
import { createConnection } from 'node:net';
import { join } from 'node:path';
import type { NodeRuntime } from './layout.ts';

export type BootDevice = 'network' | 'disk';

export { detectAccel } from '../util/accel.ts';

/** The file holding SeaBIOS's serial console port, 0x3f8 (COM1), little-endian. */
export const SERCON_PORT_FILE = 'sercon-port';
export const SERCON_PORT = Buffer.from([0xf8, 0x03]);

export const nodeFiles = (dir: string) => ({
  pid: join(dir, 'qemu.pid'),
  qmp: join(dir, 'qmp.sock'),
  console: join(dir, 'console.log'),
  serial: join(dir, 'serial.sock'),
  runtime: join(dir, 'node.json'),
  boot: join(dir, 'boot-device'),
  events: join(dir, 'chassis.log'),
  disk: join(dir, 'disk.raw'),
});

/** QEMU's arguments for a power-on. */
export function qemuArgs(node: NodeRuntime, dir: string, boot: BootDevice): string[] {
  const f = nodeFiles(dir);
  const args = [
    '-name', node.name,
    '-accel', node.accel,
    '-m', String(node.memoryMiB),
    '-smp', '1',
    '-nodefaults', '-no-user-config',
    '-display', 'none', '-vga', 'none',
    '-daemonize', '-pidfile', f.pid,
    '-qmp', `unix:${f.qmp},server=on,wait=off`,
    // A client of the lab's serial relay (the cable to the BMC), reconnecting if need be.
    '-chardev', `socket,id=serial0,path=${f.serial},reconnect=1,logfile=${f.console},logappend=on`,
    '-serial', 'chardev:serial0',
    // SeaBIOS reads the port as a little-endian integer from this file (lab.ts writes it).
    '-fw_cfg', `name=etc/sercon-port,file=${join(node.labDir, SERCON_PORT_FILE)}`,
  ];
  // strict: only the chosen device, as a BMC's forced boot device does; a
  // node with no network to boot from stops there instead of looping.
  // With a disk, `-boot order=c` is not enough: SeaBIOS tries the (virtio)
  // disk and then falls back to the NIC ROMs; boot indexes keep it strict.
  const index = (device: 'network' | 'disk', i = 0) => (node.disk && boot === device ? `,bootindex=${i + 1}` : '');
  if (node.disk) {
    args.push('-boot', 'strict=on');
    // A virtio disk: /dev/vda in the guest.
    args.push('-drive', `file=${node.disk},if=none,id=disk0,format=raw`, '-device', `virtio-blk-pci,drive=disk0${index('disk')}`);
  } else {
    args.push('-boot', `order=${boot === 'network' ? 'n' : 'c'},strict=on`);
  }
  node.nics.forEach((nic, i) => {
    // vnet_hdr=off: the userspace datapath would pass on offloaded checksums unfinished.
    args.push('-netdev', `tap,id=nic${i},ifname=${nic.tap},script=no,downscript=no,vnet_hdr=off`);
    args.push('-device', `virtio-net-pci,netdev=nic${i},mac=${nic.mac}${index('network', i)}`);
  });
  return args;
}

/** Runs one QMP command on the node's socket and returns its "return" value. */
export function qmp(socketPath: string, command: string, args?: Record<string, unknown>, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(socketPath);
    let buf = '';
    let stage: 'greeting' | 'capabilities' | 'command' = 'greeting';
    const timer = setTimeout(() => finish(new Error(`QMP ${command}: no answer in ${timeoutMs} ms`)), timeoutMs);
    const finish = (err: Error | null, value?: unknown) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    sock.on('error', (e) => finish(e));
    sock.on('data', (d) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { QMP?: unknown; return?: unknown; error?: { desc: string }; event?: string };
        buf = buf.slice(nl + 1);
        if (msg.event) continue;
        if (msg.error) return finish(new Error(`QMP ${command}: ${msg.error.desc}`));
        if (stage === 'greeting') {
          stage = 'capabilities';
          sock.write(JSON.stringify({ execute: 'qmp_capabilities' }) + '\n');
        } else if (stage === 'capabilities') {
          stage = 'command';
          sock.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
        } else {
          return finish(null, msg.return);
        }
      }
    });
  });
}
