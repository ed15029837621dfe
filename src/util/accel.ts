/** Which QEMU accelerator really works on this host (the lab's nodes, headnodes). */
import { accessSync, constants, readFileSync } from 'node:fs';

/**
 * KVM only where it really works: /dev/kvm usable and the CPU showing
 * hardware virtualisation. (A nested "PVM" /dev/kvm, as on these CI machines,
 * accepts KVM_CREATE_VM but runs stock kernels too slowly to boot.)
 */
export function detectAccel(): 'kvm' | 'tcg' {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return /\b(vmx|svm)\b/.test(readFileSync('/proc/cpuinfo', 'utf8')) ? 'kvm' : 'tcg';
  } catch {
    return 'tcg';
  }
}
