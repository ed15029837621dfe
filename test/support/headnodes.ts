/** Configuration of headnodes and VPNs for API tests: the API side only (no host switch, so no VM or endpoint is made). */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../src/config/schema.ts';

export const BASE_IMAGES = ['img1', 'base-headnode'];

export function headnodeApiConfig(c: Config): void {
  const dir = mkdtempSync(join(tmpdir(), 'hil-headnode-api-'));
  c.headnode = { base_imgs: BASE_IMAGES, run_dir: join(dir, 'run'), image_dir: join(dir, 'images'), per_project: 0 };
  c.vpn = { endpoint: 'vpn.example.test', run_dir: join(dir, 'vpn') };
}

export const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOb1c2x0ZXN0a2V5Zm9yaGlsaGVhZG5vZGVzMTIzNA tenant@laptop';
