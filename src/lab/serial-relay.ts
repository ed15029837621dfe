/**
 * The serial cables between the lab's nodes and their BMCs, one process for
 * the whole lab:
 *
 *   node serial-relay.ts <lab dir>
 *
 * On a real server the BMC's UART is always there, whatever the host's power
 * state; a QEMU serial port comes and goes with the QEMU process, and
 * ipmi_sim only retries a lost serial connection every 10 s, so a node's
 * first seconds after power-on (firmware, iPXE) would never reach SOL. So the
 * BMC side gets a port that never goes away: per node, this relay listens on
 * 127.0.0.1:<serial port> for ipmi_sim, and on <node dir>/serial.sock for
 * QEMU, which connects as a client (and reconnects after every power-on), and
 * passes bytes both ways. What the node writes while no BMC listens is
 * dropped, as on a wire; QEMU's own log file keeps the complete console.
 *
 * The loopback port takes no password (ipmi_sim's SOL can only dial plain
 * TCP): any local user can reach a lab node's serial line. The lab is a
 * developer's datacenter on one machine, not a multi-user one (docs/lab.md).
 */
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import type { NodeRuntime } from './layout.ts';
import { nodeFiles } from './qemu.ts';

/** Connects the latest BMC connection with the latest QEMU connection of one node. */
export function relayNode(name: string, bmcPort: number, qemuSocket: string) {
  let bmc: Socket | null = null;
  let qemu: Socket | null = null;
  const adopt = (side: 'bmc' | 'qemu', sock: Socket) => {
    console.log(`${new Date().toISOString()} ${name}: ${side === 'bmc' ? 'BMC' : 'node'} connected`);
    const previous = side === 'bmc' ? bmc : qemu;
    previous?.destroy();
    if (side === 'bmc') bmc = sock;
    else qemu = sock;
    sock.on('data', (d) => (side === 'bmc' ? qemu : bmc)?.write(d));
    sock.on('error', () => {});
    sock.on('close', () => {
      if (side === 'bmc' && bmc === sock) bmc = null;
      if (side === 'qemu' && qemu === sock) qemu = null;
    });
  };
  rmSync(qemuSocket, { force: true });
  const bmcServer = createServer((s) => adopt('bmc', s));
  const qemuServer = createServer((s) => adopt('qemu', s));
  for (const s of [bmcServer, qemuServer]) s.on('error', (err) => console.error(`${name}: ${err.message}`));
  const listening = Promise.all([
    new Promise<void>((r) => bmcServer.listen(bmcPort, '127.0.0.1', r)),
    new Promise<void>((r) => qemuServer.listen(qemuSocket, r)),
  ]);
  return {
    listening,
    close: () => {
      bmc?.destroy();
      qemu?.destroy();
      bmcServer.close();
      qemuServer.close();
    },
  };
}

export const RELAY_READY = 'serial relay ready';

if (import.meta.main) {
  const labDir = process.argv[2];
  if (!labDir) {
    console.error('usage: serial-relay.ts <lab dir>');
    process.exit(2);
  }
  const nodesDir = join(labDir, 'nodes');
  const relays = readdirSync(nodesDir).map((n) => {
    const dir = join(nodesDir, n);
    const node = JSON.parse(readFileSync(join(dir, 'node.json'), 'utf8')) as NodeRuntime;
    console.log(`${node.name}: BMC side 127.0.0.1:${node.serialPort}, QEMU side ${nodeFiles(dir).serial}`);
    return relayNode(node.name, node.serialPort, nodeFiles(dir).serial);
  });
  await Promise.all(relays.map((r) => r.listening));
  console.log(RELAY_READY); // lab.ts waits for this before it starts the BMCs
}
