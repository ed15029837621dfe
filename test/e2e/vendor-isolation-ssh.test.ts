/** Isolation by real packets through the SSH CLI vendor emulators (test/support/vendor-isolation.ts); the HTTP ones are in a file of their own, so that both run at once. */
import { vendorIsolationTests } from '../support/vendor-isolation.ts';

vendorIsolationTests((f) => f.transport === 'ssh');
