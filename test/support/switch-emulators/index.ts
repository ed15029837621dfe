/**
 * Every vendor switch emulator, by its VendorFixture (./model.ts): the
 * shared tests (contract, isolation, verify after a kill, error output,
 * host keys) run over this list, and ./main.ts finds a vendor here to run
 * it as a child process.
 */
import type { VendorFixture } from './model.ts';
import { nexusFixture } from './nexus.ts';
import { os10Fixture } from './os10.ts';
import { powerconnectFixture } from './powerconnect.ts';
import { n3000Fixture } from './n3000.ts';
import { brocadeFixture } from './brocade.ts';
import { dellnos9Fixture } from './dellnos9.ts';

export const VENDOR_FIXTURES: VendorFixture[] = [nexusFixture, powerconnectFixture, n3000Fixture, os10Fixture, brocadeFixture, dellnos9Fixture];

export function vendorFixture(vendor: string): VendorFixture {
  const f = VENDOR_FIXTURES.find((v) => v.vendor === vendor);
  if (!f) throw new Error(`no switch emulator for vendor ${JSON.stringify(vendor)} (known: ${VENDOR_FIXTURES.map((v) => v.vendor).join(', ')})`);
  return f;
}
