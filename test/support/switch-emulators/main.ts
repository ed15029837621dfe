/**
 * A vendor's emulator as a process of its own (started by ./process.ts):
 * reads its options as one JSON line on stdin, starts the vendor's fixture
 * (backed by OVS when asked), prints one JSON line {port,
 * hostKeyFingerprint} on stdout, and runs until SIGTERM, SIGINT or the end
 * of stdin (its parent is gone).
 */
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import type { EmulatorOptions, PortBacking, VendorFixture } from './model.ts';
import { ovsBacking } from './ovs-backing.ts';
import { rebootFromStartup } from './device-state.ts';
import type { EmulatorProcessOptions } from './process.ts';

const lines = createInterface({ input: process.stdin });
const first = await new Promise<string>((resolve, reject) => {
  lines.once('line', resolve);
  lines.once('close', () => reject(new Error('no options on stdin')));
});
const o = JSON.parse(first) as EmulatorProcessOptions & { vendor: string };

const fixture = await findFixture(o.vendor, o.fixtureModule);
if (o.boot === 'startup') rebootFromStartup(o.stateFile);
const backing: PortBacking | undefined = o.ovs ? await ovsBacking(o.ovs) : undefined;
const options: EmulatorOptions = {
  ports: o.ports,
  username: o.username,
  password: o.password,
  hostname: o.hostname,
  stateFile: o.stateFile,
  hostKey: o.hostKey,
  faults: o.faults,
  listenPort: o.listenPort,
  backing,
};
const emulator = await fixture.start(options); // it pushes the saved configuration to the backing itself
process.stdout.write(`${JSON.stringify({ port: emulator.port, hostKeyFingerprint: emulator.hostKeyFingerprint })}\n`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await emulator.close();
  await backing?.close();
  process.exit(0);
}
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
lines.once('close', () => void stop());

async function findFixture(vendor: string, module: string | undefined): Promise<VendorFixture> {
  if (!module) return (await import('./index.ts')).vendorFixture(vendor);
  const exports = Object.values(await import(module.startsWith('file:') ? module : pathToFileURL(module).href)) as unknown[];
  const found = exports.find((x): x is VendorFixture => typeof x === 'object' && x !== null && (x as VendorFixture).vendor === vendor && typeof (x as VendorFixture).start === 'function');
  if (!found) throw new Error(`${module} exports no fixture for vendor ${JSON.stringify(vendor)}`);
  return found;
}
