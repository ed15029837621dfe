/** Fast provisioning (not in upstream): deploy an image by kexec, reclaim, and the state of a node. */
import { Type } from 'typebox';
import { Args } from './common.ts';

/** networks: {nic: network}, where the node's nics go before the image boots; disk: boot with the root filesystem on this disk (made from the image if it does not exist). */
export const DeployBody = Args({
  image: Type.String(),
  networks: Type.Optional(Type.Record(Type.String(), Type.String())),
  disk: Type.Optional(Type.String({ description: "the node's root filesystem: a disk of its project, made from image if it does not exist, exported on the project's boot network" })),
});

export const ReclaimBody = Args({
  power_cycle: Type.Optional(Type.Boolean()),
  keep_disk: Type.Optional(Type.Boolean({ description: 'keep the disk a deploy with "disk" booted from (default: deleted)' })),
});

export const ProvisioningView = Type.Object({
  node: Type.String(),
  state: Type.String({ description: 'booting-fpbl, ready, deploying, deployed, reclaiming or error' }),
  phase: Type.String(),
  path: Type.Union([Type.String(), Type.Null()], { description: 'How the node last went back to the FPBL: kexec or power-cycle' }),
  image: Type.Union([Type.String(), Type.Null()]),
  networks: Type.Record(Type.String(), Type.String()),
  error: Type.Union([Type.String(), Type.Null()]),
  since: Type.String(),
  deadline: Type.Union([Type.String(), Type.Null()]),
  last_seen: Type.Union([Type.String(), Type.Null()]),
});
