/**
 * What an export is called on the wire, made of the disk's storage key (ids,
 * never a user's name): the NBD export name is the key itself; an iSCSI
 * target's name is an IQN under HIL's prefix. Shared by the disk service
 * (which tells the tenant) and the export servers (which serve under it).
 */

/** iSCSI target names are this, a colon, and the export's name. */
export const IQN_PREFIX = 'iqn.2026-12.org.hil';
/** What an initiator name may be (RFC 3720 §3.2.6: iqn., eui. or naa., at most 223 bytes; no commas, which tgt's parameters split on). */
export const INITIATOR_NAME = /^(iqn|eui|naa)\.[\x21-\x2b\x2d-\x7e]+$/;

/**
 * The target's name for an export name. tgt takes letters, digits, '.', '-'
 * and ':' in a target name, and iSCSI compares names in lower case (RFC
 * 3722), so a name with capitals or '_' is spelled in hex, after an 'x:'
 * that no plain name has.
 */
export function targetIqn(name: string): string {
  const unique = /^[a-z0-9.-]+$/.test(name) ? name : `x:${Buffer.from(name).toString('hex')}`;
  const iqn = `${IQN_PREFIX}:${unique}`;
  if (iqn.length > 223) throw new Error(`the target name ${iqn} is over the 223 bytes an iSCSI name may have`);
  return iqn;
}

export function isInitiatorName(name: string): boolean {
  return name.length <= 223 && INITIATOR_NAME.test(name);
}
