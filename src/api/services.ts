/** The use-cases the HTTP layer calls, built once by the assembly. */
import type { CoreDeps } from '../core/context.ts';
import { projectService } from '../core/project.service.ts';
import { nodeService } from '../core/node.service.ts';
import { nodeNetworkService } from '../core/node-network.service.ts';
import { networkService } from '../core/network.service.ts';
import { switchService } from '../core/switch.service.ts';
import { userService } from '../core/user.service.ts';
import { keystoneProjectService } from '../core/keystone-project.service.ts';
import { obmService } from '../core/obm.service.ts';
import { verifyService } from '../core/verify.service.ts';
import type { BlobStore } from '../images/blob-store.ts';
import { imageService } from '../images/image.service.ts';
import { diskService, type DiskServiceOptions } from '../disks/disk.service.ts';
import { bootDiskService, type BootDiskOptions } from '../disks/boot-disk.service.ts';
import type { DiskStorage } from '../images/disk-storage.ts';
import { provisioningService, type ProvisioningOptions } from '../provisioning/provisioning.service.ts';
import { headnodeService, type HeadnodeOptions } from '../headnodes/headnode.service.ts';
import { vpnService, type VpnOptions } from '../vpn/vpn.service.ts';

export interface ServiceOptions {
  blobs: BlobStore;
  storage: DiskStorage;
  maxDiskBytes: number;
  maxVirtualBytes: number;
  exports: DiskServiceOptions['exports'] & { boot?: BootDiskOptions['boot'] };
  /** Something a disk's holder acts on was committed. */
  disksChanged(): void;
  provisioning?: ProvisioningOptions;
  headnodes: HeadnodeOptions;
  /** Absent: no [vpn] section, VPN calls answer that they are not offered. */
  vpn?: VpnOptions;
}

export function buildServices(deps: CoreDeps, o: ServiceOptions) {
  const obm = obmService(deps);
  const disks = diskService(deps, { storage: o.storage, exports: o.exports, changed: o.disksChanged });
  const bootDisks = bootDiskService(deps, { boot: o.exports.boot, exports: o.exports, changed: o.disksChanged });
  return {
    projects: projectService(deps),
    nodes: nodeService(deps),
    nodeNetwork: nodeNetworkService(deps),
    networks: networkService(deps),
    switches: switchService(deps),
    users: userService(deps),
    keystoneProjects: keystoneProjectService(deps),
    obm,
    verify: verifyService(deps),
    images: imageService(deps, { blobs: o.blobs, storage: o.storage, maxDiskBytes: o.maxDiskBytes, maxVirtualBytes: o.maxVirtualBytes }),
    disks,
    bootDisks,
    headnodes: headnodeService(deps, o.headnodes),
    vpns: vpnService(deps, o.vpn),
    /** Present when fast provisioning is enabled. */
    provisioning: o.provisioning ? provisioningService(deps, obm, o.provisioning, { bootDisks, disks }) : undefined,
  };
}

export type Services = ReturnType<typeof buildServices>;
