/**
 * A base HIL for the `hil` drivers (docs/recursive.md), as a derived HIL
 * sees it: a real HIL (real database, in-process networking worker, HTTP on
 * loopback, database auth) with one tenant project, "reseller", and its user;
 * nodes with mock BMCs whose NICs are cabled to a mock switch, all in that
 * project; and networks the reseller created, as the `hil` allocator does.
 * The derived side is only the drivers, built on `upstream()`: the same
 * connection a derived HIL's assembly makes from its [upstream] settings.
 *
 * The base runs in the test process so that tests can look at what its mock
 * BMCs did (`bmc.state(node)`), and can make it stop answering (`freeze`).
 */
import type { Socket } from 'node:net';
import { HilClient } from '../../src/client/index.ts';
import { mockBmcDriver, type MockBmcDriver } from '../../src/drivers/bmc/mock.ts';
import { connectUpstream, type Upstream } from '../../src/drivers/hil/upstream.ts';
import type { TestDatabase } from './databases.ts';
import { listen } from './fixtures.ts';
import { addUser, startTestHil, type TestHil } from './hil.ts';

export const RESELLER = { username: 'reseller', password: 'reseller-pw', project: 'reseller' };

export interface BaseHilSpec {
  /** Node names, each registered with a mock BMC and put in the reseller project. */
  nodes: string[];
  /** The NICs of every node, each cabled to a port of the base's mock switch. Default ["eth0"]. */
  nics?: string[];
  /** Networks the reseller creates (owned by and accessible to its project). Names must suit the `hil` allocator: <project>-<suffix>. */
  networks?: string[];
}

export interface BaseHil {
  test: TestHil;
  endpoint: string;
  admin: HilClient;
  /** The base's mock BMCs (what its nodes' power, boot device and console did). */
  bmc: MockBmcDriver;
  /** The reseller's connection to the base, as a derived HIL makes it. */
  upstream(timeoutMs?: number): Upstream;
  /**
   * Makes the base's API stop answering, as a hung server does: connections
   * are accepted and requests read, and none is ever answered. For good:
   * only close() afterwards.
   */
  freeze(): Promise<void>;
  close(): Promise<void>;
}

export async function startBaseHil(database: TestDatabase, spec: BaseHilSpec): Promise<BaseHil> {
  const db = await database.create();
  const bmc = mockBmcDriver();
  const test = await startTestHil(db, { auth: 'database', bmcDrivers: [bmc] });
  // Every connection to the base's API, so that close() can end them after freeze().
  const connections = new Set<Socket>();
  let frozen = false;
  test.hil.app!.server.on('connection', (s: Socket) => {
    connections.add(s);
    s.once('close', () => connections.delete(s));
  });
  const close = async () => {
    // A frozen server never finishes its requests: end them, or closing would wait for them.
    if (frozen) for (const s of connections) s.destroy();
    await test.close();
    await db.drop();
  };
  try {
    const endpoint = await listen(test);
    await addUser(test, 'admin', 'admin-pw', true);
    const admin = new HilClient({ endpoint, username: 'admin', password: 'admin-pw' });
    await admin.project.create(RESELLER.project);
    await admin.user.create(RESELLER.username, RESELLER.password, false);
    await admin.user.addProject(RESELLER.username, RESELLER.project);
    await admin.switch.register('basesw', 'mock', { hostname: 'basesw.example', username: 'admin', password: 'switch-pw' });
    let port = 0;
    for (const node of spec.nodes) {
      await admin.node.register(node, { obm: { type: 'mock' } });
      for (const nic of spec.nics ?? ['eth0']) {
        port++;
        await admin.node.addNic(node, nic, `52:54:00:aa:${(port >> 8).toString(16).padStart(2, '0')}:${(port & 0xff).toString(16).padStart(2, '0')}`);
        await admin.port.register('basesw', `gi1/0/${port}`);
        await admin.port.connectNic('basesw', `gi1/0/${port}`, node, nic);
      }
      await admin.project.connectNode(RESELLER.project, node);
    }
    const reseller = new HilClient({ endpoint, username: RESELLER.username, password: RESELLER.password });
    for (const network of spec.networks ?? []) await reseller.network.create(network, RESELLER.project, RESELLER.project, '');

    return {
      test,
      endpoint,
      admin,
      bmc,
      upstream: (timeoutMs = 10_000) => connectUpstream({ endpoint, credentials: { username: RESELLER.username, password: RESELLER.password }, project: RESELLER.project, timeoutMs }),
      async freeze() {
        // Requests are still accepted and read, and nobody handles them: no answer, ever.
        frozen = true;
        test.hil.app!.server.removeAllListeners('request').removeAllListeners('upgrade');
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
