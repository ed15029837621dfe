/**
 * The isolation scenario (./isolation-scenario.ts) over vendor switch
 * emulators whose ports are backed by an Open vSwitch bridge
 * (./switch-emulators/ovs-backing.ts), on SQLite and PostgreSQL, with the
 * emulated switch registered under its vendor type.
 */
import { describe, it } from 'node:test';
import { testDatabases } from './databases.ts';
import { ISOLATION_BRIDGE, isolationScenario } from './isolation-scenario.ts';
import { netnsSkipReason } from './netns.ts';
import { skipReason as ovsSkipReason } from './ovs.ts';
import { skipUnless } from './require.ts';
import { VENDOR_FIXTURES } from './switch-emulators/index.ts';
import type { VendorFixture } from './switch-emulators/model.ts';
import { ovsBacking } from './switch-emulators/ovs-backing.ts';

const creds = { username: 'hil-admin', password: 'isolation-test-password' };

export function vendorIsolationTests(which: (f: VendorFixture) => boolean): void {
  const skip = skipUnless(netnsSkipReason() ?? ovsSkipReason);
  for (const fixture of VENDOR_FIXTURES.filter(which)) {
    for (const database of testDatabases()) {
      describe(`${fixture.vendor} isolation on ${database.name}`, { skip: database.skip || skip }, () => {
        it('separates networks, and stops traffic on detach and revert', () =>
          isolationScenario(database, async (ovs, nodes) => {
            const ports = fixture.ports.slice(0, nodes.length);
            const backing = await ovsBacking({ ovsdb: ovs.endpoint, bridge: ISOLATION_BRIDGE, cables: Object.fromEntries(ports.map((p, i) => [p, nodes[i]!.hostIf])) });
            const emulator = await fixture.start({ ports: fixture.ports, ...creds, backing });
            return {
              registration: { type: fixture.type, ...fixture.fields(emulator, creds) },
              ports,
              stop: async () => {
                await emulator.close();
                await backing.close();
              },
            };
          }));
      });
    }
  }
}
