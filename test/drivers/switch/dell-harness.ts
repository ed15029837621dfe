/**
 * What the two Dell driver tests (powerconnect.test.ts, n3000.test.ts)
 * share: a driver context with short timeouts, an emulator per suite, and
 * sessions opened on it with the fixture's registration fields.
 */
import { after, before } from 'node:test';
import type { CliDriverContext, CliSwitchDriver } from '../../../src/drivers/switch/cli/cli-driver.ts';
import type { CliFields } from '../../../src/drivers/switch/cli/cli-params.ts';
import { memoryHostKeyStore } from '../../../src/drivers/switch/cli/host-keys.ts';
import type { PortNetwork, SwitchSession } from '../../../src/drivers/switch/interface.ts';
import type { CliEmulator } from '../../support/switch-emulators/cli-engine.ts';
import type { EmulatorOptions, VendorFixture } from '../../support/switch-emulators/model.ts';

export const CREDS = { username: 'admin', password: 'dell-secret-pw' };
const quiet = { info() {}, warn() {} };

export const context = (timeouts: CliDriverContext['timeouts'] = { loginMs: 5000, commandMs: 3000, saveMs: 5000 }): CliDriverContext => ({ hostKeys: memoryHostKeyStore(), log: quiet, timeouts });

export type BatchSession = SwitchSession & { applyBatch: NonNullable<SwitchSession['applyBatch']>; broken: boolean };

export interface Harness<P> {
  readonly emulator: CliEmulator<P>;
  readonly fields: Record<string, unknown>;
  session(extra?: Record<string, unknown>, driver?: CliSwitchDriver<CliFields>): Promise<BatchSession>;
  withSession<T>(fn: (s: BatchSession) => Promise<T>, extra?: Record<string, unknown>): Promise<T>;
  reads(s: SwitchSession, port: string): Promise<PortNetwork[] | undefined>;
  logSince(mark: number): string[];
}

/** An emulator started before the suite's tests and closed after them. */
export function harness<P>(fixture: VendorFixture, start: (o: EmulatorOptions) => Promise<CliEmulator<P>>, driver: CliSwitchDriver<CliFields>): Harness<P> {
  let emulator: CliEmulator<P>;
  let fields: Record<string, unknown>;
  let nextId = 1;
  before(async () => {
    emulator = await start({ ports: fixture.ports, ...CREDS });
    fields = fixture.fields(emulator, CREDS);
  });
  after(() => emulator?.close());
  const h: Harness<P> = {
    get emulator() {
      return emulator;
    },
    get fields() {
      return fields;
    },
    async session(extra = {}, d = driver) {
      const params = d.params.parse({ ...structuredClone(fields), ...extra });
      return (await d.openSession({ id: nextId++, label: `${fixture.vendor}-test`, params })) as unknown as BatchSession;
    },
    async withSession(fn, extra = {}) {
      const s = await h.session(extra);
      try {
        return await fn(s);
      } finally {
        await s.close();
      }
    },
    async reads(s, port) {
      return (await s.getPortNetworks([port])).get(port);
    },
    logSince: (mark) => emulator.log.slice(mark),
  };
  return h;
}
