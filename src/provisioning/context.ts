/** What the parts of the provisioning service share; provisioningService builds it once. */
import type { Logger } from 'pino';
import type { CoreDeps } from '../core/context.ts';
import type { NodeChanges } from './changes.ts';
import type { Timeouts } from './machine.ts';

export interface ProvisioningOptions extends Timeouts {
  /** How nodes reach the agent endpoint, e.g. http://10.128.0.1 */
  url: string;
  /** The provisioning network's label. */
  network: string;
  fpblDir: string;
  tickMs: number;
}

export interface ProvisioningContext {
  deps: CoreDeps;
  o: ProvisioningOptions;
  log: Logger;
  changes: NodeChanges;
  /** Runs the tick now, or once more after the run under way. */
  kick(): void;
}
