/** Isolation by real packets through the HTTP API vendor emulators (test/support/vendor-isolation.ts); the SSH ones are in a file of their own, so that both run at once. */
import { vendorIsolationTests } from '../support/vendor-isolation.ts';

vendorIsolationTests((f) => f.transport === 'http');
