/**
 * Isolation proven by traffic through the ovs driver, on SQLite and
 * PostgreSQL: the scenario is test/support/isolation-scenario.ts, with the
 * bridge the nodes are cabled to as the switch.
 */
import { describe, it } from 'node:test';
import { testDatabases } from '../support/databases.ts';
import { ISOLATION_BRIDGE, isolationScenario } from '../support/isolation-scenario.ts';
import { netnsSkipReason } from '../support/netns.ts';
import { skipReason as ovsSkipReason } from '../support/ovs.ts';
import { skipUnless } from '../support/require.ts';

const skip = skipUnless(netnsSkipReason() ?? ovsSkipReason);

for (const database of testDatabases()) {
  describe(`OVS isolation on ${database.name}`, { skip: database.skip || skip }, () => {
    it('separates networks, and stops traffic on detach and revert', () =>
      isolationScenario(database, async (ovs, nodes) => ({
        registration: { type: 'http://schema.massopencloud.org/haas/v0/switches/ovs', ovs_bridge: ISOLATION_BRIDGE, ovsdb: ovs.endpoint },
        ports: nodes.map((n) => n.hostIf),
        stop: async () => {},
      })));
  });
}
