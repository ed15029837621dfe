/** What the parts of the provisioning service share; provisioningService builds it once. */
import type { Logger } from 'pino';
import type { CoreDeps } from '../core/context.ts';
import type { BootDiskService } from '../disks/boot-disk.service.ts';
import type { DiskService } from '../disks/disk.service.ts';
import type { NodeChanges } from './changes.ts';
import type { Timeouts } from './machine.ts';

export interface ProvisioningOptions extends Timeouts {
  /** How nodes reach the agent endpoint, e.g. http://10.128.0.1 */
  url: string;
  /** The provisioning network's label. */
  network: string;
  fpblDir: string;
  tickMs: number;
  /** How many bytes of images an idle FPBL may keep (prefetch.ts). */
  prefetchBytes: number;
}

/** What a deploy of a disk image needs (`deploy --disk`): the nodes' boot disks, and the disks themselves. */
export interface Diskless {
  bootDisks: BootDiskService;
  disks: DiskService;
}

export interface ProvisioningContext {
  deps: CoreDeps;
  diskless: Diskless;
  o: ProvisioningOptions;
  log: Logger;
  changes: NodeChanges;
  /** Runs the tick now, or once more after the run under way. */
  kick(): void;
}
