/**
 * What apply records about a network's VPN in the state directory, before it
 * creates anything: where its switch port is and which slot it used. Remove
 * reads it back, so a teardown after a crash (or after the database row is
 * gone) still finds the OVS port to delete. Nothing secret is kept here.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SwitchPlace } from './ovs.ts';

export interface VpnRecord {
  vlan: number;
  bridge: string;
  slot: number;
  listenPort: number;
  switch: SwitchPlace;
}

const fileOf = (stateDir: string, vlan: number) => join(stateDir, `hilvpn-${vlan}.json`);

export function writeRecord(stateDir: string, r: VpnRecord): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileSync(fileOf(stateDir, r.vlan), `${JSON.stringify(r)}\n`);
}

export function readRecord(stateDir: string, vlan: number): VpnRecord | undefined {
  try {
    return JSON.parse(readFileSync(fileOf(stateDir, vlan), 'utf8')) as VpnRecord;
  } catch {
    return undefined;
  }
}

export function deleteRecord(stateDir: string, vlan: number): void {
  rmSync(fileOf(stateDir, vlan), { force: true });
  rmSync(join(stateDir, `hilwg${vlan}.log`), { force: true });
}

/** Every record in the directory. */
export function listRecords(stateDir: string): VpnRecord[] {
  let names: string[];
  try {
    names = readdirSync(stateDir);
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    const m = /^hilvpn-(\d+)\.json$/.exec(n);
    const r = m ? readRecord(stateDir, Number(m[1])) : undefined;
    return r ? [r] : [];
  });
}

/** VLANs whose daemon left a PID file. */
export function pidFileVlans(stateDir: string): number[] {
  try {
    return readdirSync(stateDir).flatMap((n) => /^hilwg(\d+)\.pid$/.exec(n)?.[1] ?? []).map(Number);
  } catch {
    return [];
  }
}
