/**
 * The switch contract (./contract.ts) over every switch driver: one row
 * each, and one per database where the driver keeps state in one. Adding a
 * driver is adding a row: how to get the driver, a registered switch with
 * PORTS_NEEDED untouched ports, ports the device lacks, and three networks.
 *
 * - mock: the mock switch in a test HIL's database (the base HIL's below).
 * - ovs: a private Open vSwitch (test/support/ovs.ts), ports of one bridge;
 *   a port of another bridge counts as one the switch does not have.
 * - hil: a derived HIL's switch over a base HIL (test/support/base-hil.ts)
 *   whose nodes' NICs are on the base's mock switch; its ports are
 *   "<base node>/<nic>", its networks the base's, tagged as "vlan/<name>".
 *
 * The vendor drivers' rows are in ./vendor-contract.test.ts.
 */
import { after } from 'node:test';
import { hilSwitchDriver } from '../../../src/drivers/hil/switch.ts';
import { ovsSwitchDriver, TRUNKS_ALL } from '../../../src/drivers/switch/ovs/switch.ts';
import { startBaseHil, type BaseHil } from '../../support/base-hil.ts';
import { testDatabases, type TestDatabase } from '../../support/databases.ts';
import { SWITCH_FIELDS } from '../../support/fixtures.ts';
import { skipReason as ovsSkipReason, startOvs, type Ovs } from '../../support/ovs.ts';
import { skipUnless } from '../../support/require.ts';
import { PORTS_NEEDED, switchContract, type Net } from './contract.ts';

/** Networks on VLAN switches: the VLAN is the network ID and names the tagged channel. */
const vlans = (...ids: number[]) => ids.map((v) => ({ id: String(v), tagged: `vlan/${v}` })) as [Net, Net, Net];
const numbered = (prefix: string) => Array.from({ length: PORTS_NEEDED }, (_, i) => `${prefix}${i + 1}`);

// One base HIL per database, shared by the mock and hil rows.
const BASE_NODES = ['n1', 'n2', 'n3', 'n4', 'n5'];
const BASE_NETWORKS = ['reseller-net1', 'reseller-net2', 'reseller-net3'];
const bases = new Map<string, Promise<BaseHil>>();
function baseOn(database: TestDatabase): Promise<BaseHil> {
  if (!bases.has(database.name)) bases.set(database.name, startBaseHil(database, { nodes: BASE_NODES, nics: ['eth0', 'eth1'], networks: BASE_NETWORKS }));
  return bases.get(database.name)!;
}
after(async () => {
  for (const base of bases.values()) await (await base).close();
});

for (const database of testDatabases()) {
  switchContract({
    name: `mock (${database.name})`,
    skip: database.skip,
    async setup() {
      const base = await baseOn(database);
      await base.admin.switch.register('contract-mock', 'mock', SWITCH_FIELDS);
      // The mock switch's device has the ports registered on it, no others.
      for (const port of numbered('gi1/0/')) await base.admin.port.register('contract-mock', port);
      const { id } = await base.test.hil.store.db.selectFrom('switch').select('id').where('label', '=', 'contract-mock').executeTakeFirstOrThrow();
      return {
        driver: base.test.hil.switches.resolve('mock'),
        switch: { id: Number(id), label: 'contract-mock', fields: SWITCH_FIELDS },
        ports: numbered('gi1/0/'),
        missingPorts: ['gi9/0/99'],
        badPortNames: ['', 'eth0', 'gi1', 'gi1/0/x', 'gi1/0/1 '],
        networks: vlans(101, 102, 103),
        teardown: async () => {},
      };
    },
  });
}

let ovs: Ovs | undefined;
after(() => ovs?.stop());
switchContract({
  name: 'ovs',
  skip: skipUnless(ovsSkipReason),
  async setup() {
    ovs = await startOvs();
    ovs.addBridge('contract0');
    ovs.addBridge('contract1');
    const internal = (bridge: string, name: string) => ['--', 'add-port', bridge, name, '--', 'set', 'Interface', name, 'type=internal'];
    const ports = numbered('c');
    ovs.vsctl(...[...ports.flatMap((p) => internal('contract0', p)), ...internal('contract1', 'elsewhere')].slice(1));
    return {
      driver: ovsSwitchDriver({ applyTimeoutMs: 5000 }),
      switch: { id: 1, label: 'contract-ovs', fields: { ovs_bridge: 'contract0', ovsdb: ovs.endpoint } },
      alsoValid: [{ ovs_bridge: 'contract0' }, { ovs_bridge: 'b', ovsdb: 'tcp:127.0.0.1:6640' }],
      refused: [
        { fields: { ovs_bridge: '' }, field: 'ovs_bridge' },
        { fields: { ovs_bridge: 'contract0', ovsdb: 'ssl:127.0.0.1:6640' }, field: 'ovsdb' },
      ],
      ports,
      // "elsewhere" is a port of another bridge: not one this switch has.
      missingPorts: ['no-such-port', 'elsewhere'],
      badPortNames: ['', 'a b', 'a\tb', 'a\u0001b'],
      networks: vlans(101, 102, 103),
      untouched: {
        reads: [TRUNKS_ALL],
        why: 'a freshly added OVS port trunks every VLAN until HIL first configures it, and getPortNetworks says so ("vlan/all") so that verify finds it (docs/switches.md)',
      },
      teardown: async () => {},
    };
  },
});

for (const database of testDatabases()) {
  switchContract({
    name: `hil (base on ${database.name})`,
    skip: database.skip,
    async setup() {
      const base = await baseOn(database);
      return {
        driver: hilSwitchDriver(base.upstream()),
        switch: { id: 1, label: 'upstream', fields: {} },
        ports: BASE_NODES.flatMap((n) => [`${n}/eth0`, `${n}/eth1`]),
        missingPorts: ['n1/eth9', 'ghost/eth0'],
        badPortNames: ['', 'eth0', '/eth0', 'n1/'],
        networks: BASE_NETWORKS.map((id) => ({ id, tagged: `vlan/${id}` })) as [Net, Net, Net],
        // The base's words: "node n1 has no nic eth9".
        portWords: (p) => p.split('/'),
        teardown: async () => {},
      };
    },
  });
}

