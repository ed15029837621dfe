/**
 * The switch contract (./contract.ts) over every vendor driver (Nexus,
 * PowerConnect 55xx, N3000, OS10, Brocade VDX, OS9) against its emulator
 * (test/support/switch-emulators/), on each database: the switch is
 * registered through a test HIL's API, so the driver gets the fields the
 * database kept, and SSH host keys are recorded there on first use. (A file
 * of its own so that it runs beside the other drivers' rows.)
 */
import { testDatabases } from '../../support/databases.ts';
import { startTestHil } from '../../support/hil.ts';
import { VENDOR_FIXTURES } from '../../support/switch-emulators/index.ts';
import { PORTS_NEEDED, switchContract, type Net } from './contract.ts';

const vlans = (...ids: number[]) => ids.map((v) => ({ id: String(v), tagged: `vlan/${v}` })) as [Net, Net, Net];

const VENDOR_CREDS = { username: 'contract', password: 'contract-password' };
for (const fixture of VENDOR_FIXTURES) {
  for (const database of testDatabases()) {
    switchContract({
      name: `${fixture.vendor} emulator (${database.name})`,
      skip: database.skip,
      async setup() {
        const emulator = await fixture.start({ ports: fixture.ports, ...VENDOR_CREDS });
        const db = await database.create();
        const t = await startTestHil(db, { worker: false });
        const label = `contract-${fixture.vendor}`;
        const r = await t.as()('PUT', `/v0/switch/${label}`, { type: fixture.type, ...fixture.fields(emulator, VENDOR_CREDS) });
        if (r.status !== 200) throw new Error(`registering the ${fixture.vendor} switch: ${r.status} ${r.text}`);
        const sw = await t.hil.store.db.selectFrom('switch').select(['id', 'params']).where('label', '=', label).executeTakeFirstOrThrow();
        return {
          driver: t.hil.switches.resolve(fixture.type),
          switch: { id: Number(sw.id), label, fields: JSON.parse(sw.params) as Record<string, unknown> },
          ports: fixture.ports.slice(0, PORTS_NEEDED),
          missingPorts: fixture.missingPorts,
          badPortNames: fixture.badPortNames,
          networks: vlans(101, 102, 103),
          untouched: fixture.untouched,
          teardown: async () => {
            await t.close();
            await db.drop();
            await emulator.close();
          },
        };
      },
    });
  }
}
