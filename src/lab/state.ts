/** A lab's record of itself (lab.json): its layout spec, phase and credentials, from which every name it uses derives. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { LabLayout, LabSpec } from './layout.ts';
import type { BmcCredentials } from './register.ts';

export interface LabState {
  spec: LabSpec;
  phase: 'starting' | 'up';
  startedAt: string;
  kernel?: string;
  /** The BMCs' credentials (lab.json is 0600): `hil-lab` needs them to register nodes. */
  bmc: BmcCredentials;
  /** The HIL endpoint the lab was registered in, if any. */
  registeredIn?: string;
}

export function defaultLabDir(): string {
  return process.env.HIL_LAB_DIR ?? join(process.env.HOME ?? '/root', '.local', 'state', 'hil-lab');
}

export function readState(dir: string): LabState | null {
  try {
    return JSON.parse(readFileSync(join(resolve(dir), 'lab.json'), 'utf8')) as LabState;
  } catch {
    return null;
  }
}

export function writeState(layout: LabLayout, state: LabState): void {
  writeFileSync(layout.stateFile, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
}

export function markRegistered(layout: LabLayout, state: LabState, endpoint: string): void {
  state.registeredIn = endpoint;
  writeState(layout, state);
}
