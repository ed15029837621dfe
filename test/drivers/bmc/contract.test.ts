/**
 * The BMC contract (./contract.ts) over every BMC type HIL drives itself:
 * one row each, and one per database where one is involved. Adding a type is
 * adding a row: the driver, a node's BMC fields, and what the row can see of
 * the BMC itself (power, boot device, console, a way to make it hang).
 *
 * - mock: the in-memory BMC; its state is read from the driver.
 * - ipmi: OpenIPMI's ipmi_sim (test/support/ipmi-sim.ts): its chassis
 *   script's files, its serial line; SIGSTOP makes it stop answering.
 * - redfish: the Redfish emulator (test/support/redfish-emulator.ts), which
 *   can hang; Redfish has no console.
 * - hil: a derived HIL's BMC over a base HIL (test/support/base-hil.ts):
 *   the base node's mock BMC; a frozen base stops answering.
 */
import { ipmiBmcDriver } from '../../../src/drivers/bmc/ipmi/bmc.ts';
import { mockBmcDriver } from '../../../src/drivers/bmc/mock.ts';
import { redfishBmcDriver } from '../../../src/drivers/bmc/redfish/bmc.ts';
import { hilBmcDriver } from '../../../src/drivers/hil/bmc.ts';
import { startBaseHil } from '../../support/base-hil.ts';
import { testDatabases } from '../../support/databases.ts';
import { skipReason as ipmiSkipReason, startBmc } from '../../support/ipmi-sim.ts';
import { startRedfishEmulator } from '../../support/redfish-emulator.ts';
import { skipUnless } from '../../support/require.ts';
import { bmcContract } from './contract.ts';

/** The drivers' own bound on a call in these rows (ms). */
const BOUND_MS = 2000;

bmcContract({
  name: 'mock',
  async setup() {
    const driver = mockBmcDriver();
    const state = () => driver.state('contract');
    return {
      driver,
      target: { nodeLabel: 'contract', params: {} },
      alsoValid: [{ host: 'bmc.example', user: 'admin', password: 'secret' }],
      observe: { power: () => state().power, boot: () => ({ device: state().bootDevice, persistent: state().bootPersistent }) },
      // It prints a counter by itself and echoes what is typed as "> line".
      console: { input: 'echoed' },
      teardown: async () => {},
    };
  },
});

bmcContract({
  name: 'ipmi (ipmi_sim)',
  skip: skipUnless(ipmiSkipReason),
  async setup() {
    const sim = await startBmc('contract');
    const fields = { host: sim.host, port: sim.port, user: sim.user, password: sim.password };
    const ipmitool = (what: string) => new RegExp(`ipmitool ${what}\\b`);
    // ipmi_sim calls the disk device "default"; it does not keep the persistent flag (chassis bootparam 5 always says "next boot only").
    const devices: Record<string, 'pxe' | 'disk' | 'none'> = { pxe: 'pxe', default: 'disk', none: 'none' };
    return {
      driver: ipmiBmcDriver({ timeoutMs: BOUND_MS }),
      target: { nodeLabel: 'contract', params: fields },
      alsoValid: [{ ...fields, port: String(sim.port), cipher_suite: 3 }, { ...fields, cipher_suite: '17' }],
      refused: [
        { fields: { ...fields, host: '-oProxyCommand=x' }, field: 'host' },
        { fields: { ...fields, port: 70000 }, field: 'port' },
        { fields: { ...fields, cipher_suite: '99' }, field: 'cipher_suite' },
        { fields: { ...fields, password: 'pw\nline' }, field: 'password' },
      ],
      observe: { power: () => sim.state().power, boot: () => ({ device: devices[sim.state().boot] }) },
      console: { print: (text) => sim.serialWrite(text), input: (typed) => sim.serialReceived().toString('latin1').includes(typed) },
      unresponsive: {
        stop: () => void process.kill(sim.pid, 'SIGSTOP'),
        resume: () => void process.kill(sim.pid, 'SIGCONT'),
        boundMs: BOUND_MS,
        names: { status: ipmitool('chassis power status'), on: ipmitool('chassis power on'), boot: ipmitool('chassis bootdev pxe') },
      },
      teardown: () => sim.stop(),
    };
  },
});

bmcContract({
  name: 'redfish (emulator)',
  async setup() {
    const emu = await startRedfishEmulator();
    const fields = { url: emu.url, user: emu.user, password: emu.password };
    const targets: Record<string, 'pxe' | 'disk' | 'none'> = { Pxe: 'pxe', Hdd: 'disk', None: 'none' };
    const persistence: Record<string, boolean | undefined> = { Continuous: true, Once: false, Disabled: undefined };
    // The first request of each operation (the service root, to find the system) is the one a hung BMC leaves unanswered.
    const request = new RegExp(`^Redfish BMC ${emu.url}: (GET|POST|PATCH) /redfish/v1\\S* got no answer within ${BOUND_MS} ms`);
    return {
      driver: redfishBmcDriver({ requestTimeoutMs: BOUND_MS }),
      target: { nodeLabel: 'contract', params: fields },
      alsoValid: [{ ...fields, auth: 'basic' }, { ...fields, system: emu.systemId, insecure_tls: false, auth: 'session' }],
      refused: [
        { fields: { ...fields, url: 'ftp://127.0.0.1/' }, field: 'url' },
        { fields: { ...fields, url: 'http://root:pw@127.0.0.1/' }, field: 'url' },
        { fields: { ...fields, auth: 'digest' }, field: 'auth' },
      ],
      observe: {
        power: () => (emu.state().powerState === 'On' ? 'on' : 'off'),
        boot: () => ({ device: targets[emu.state().boot.BootSourceOverrideTarget], persistent: persistence[emu.state().boot.BootSourceOverrideEnabled] }),
      },
      unresponsive: { stop: () => emu.hang(true), resume: () => emu.hang(false), boundMs: BOUND_MS, names: { status: request, on: request, boot: request } },
      teardown: () => emu.close(),
    };
  },
});

for (const database of testDatabases()) {
  bmcContract({
    name: `hil (base on ${database.name})`,
    skip: database.skip,
    async setup() {
      const base = await startBaseHil(database, { nodes: ['n1'] });
      const state = () => base.bmc.state('n1');
      const names = (what: string) => new RegExp(`^base HIL: ${what} of node n1 failed: cannot reach the HIL server at ${base.endpoint}: no answer within ${BOUND_MS} ms`);
      return {
        driver: hilBmcDriver(base.upstream(BOUND_MS)),
        // The derived node may have any name: its BMC is the base node named in the fields.
        target: { nodeLabel: 'derived-n1', params: { node: 'n1' } },
        refused: [{ fields: { node: '' }, field: 'node' }],
        observe: { power: () => state().power, boot: () => ({ device: state().bootDevice, persistent: state().bootPersistent }) },
        // The base node's mock BMC, through the base's console: it echoes what is typed up here.
        console: { input: 'echoed' },
        unresponsive: {
          stop: () => base.freeze(),
          boundMs: BOUND_MS,
          names: { status: names('power status'), on: names('power on'), boot: names('setting the boot device') },
        },
        teardown: () => base.close(),
      };
    },
  });
}
