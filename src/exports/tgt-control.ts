/**
 * tgtd's control protocol, spoken directly (what tgtadm does, per tgt
 * 1.0.85's usr/tgtadm.h and usr/mgmt.c) so that a CHAP secret goes to tgtd
 * over its unix socket and never on a command line. tgtd takes one request
 * per connection: a fixed struct, then "key=value,..." parameters; it
 * answers with an error code and, for "show", text; then it closes.
 * It only serves peers of its own uid and gid.
 */
import { connect } from 'node:net';
import { endianness } from 'node:os';
import { untilAborted } from '../util/timeout.ts';

/** enum tgtadm_mode and enum tgtadm_op, numbered as there. */
const MODE = { system: 0, target: 1, device: 2, portal: 3, account: 7 } as const;
const OP = { new: 0, delete: 1, show: 2, bind: 3 } as const;

export interface TgtRequest {
  mode: keyof typeof MODE;
  op: keyof typeof OP;
  tid?: number;
  lun?: number;
  /** Delete a target even with sessions open. */
  force?: boolean;
  /** key=value,… as tgtadm sends them. */
  params?: string;
}

/** tgtadm_errno, in order; the words are ours. */
const TGT_ERRORS = [
  'success', 'unknown error', 'out of memory', 'no such driver', 'no such target', 'no such logical unit', 'no such session',
  'no such connection', 'no such binding', 'the target exists already', 'the logical unit exists already', 'the binding exists already',
  'the access rule exists already', 'no such access rule', 'the account exists already', 'no such account', 'too many accounts',
  'invalid request', 'the target has an outgoing account already', 'the target is in use', 'the logical unit is in use',
  'the driver is in use', 'operation not supported', 'unknown parameter', 'the device prevents removal',
];

const REQ_SIZE = 120;
const LE = endianness() === 'LE';

/**
 * struct tgtadm_req in the host's byte order (tgtd reads the struct raw):
 * mode @0, op @4, lld[64] @8, len @72, tid @76 (int32), sid @80 (u64),
 * lun @88 (u64), cid @96, host_no @100, device_type @104, ac_dir @108,
 * pack @112, force @116; 120 bytes. `len` counts the struct and the
 * parameters after it, a NUL-terminated string. Unset fields as tgtadm
 * leaves them: tid -1, lun all ones, device type disk (0), account incoming (0).
 */
function encodeRequest(req: TgtRequest, params: Buffer): Buffer {
  const b = Buffer.alloc(REQ_SIZE);
  const u32 = (v: number, at: number) => (LE ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at));
  u32(MODE[req.mode], 0);
  u32(OP[req.op], 4);
  b.write('iscsi', 8, 'latin1');
  u32(REQ_SIZE + params.length, 72);
  if (LE) b.writeInt32LE(req.tid ?? -1, 76);
  else b.writeInt32BE(req.tid ?? -1, 76);
  const lun = req.lun === undefined ? 0xffff_ffff_ffff_ffffn : BigInt(req.lun);
  if (LE) b.writeBigUInt64LE(lun, 88);
  else b.writeBigUInt64BE(lun, 88);
  u32(req.force ? 1 : 0, 116);
  return b;
}

/** One request on a connection of its own (tgtd answers one, then closes): resolves with what it printed, rejects with its error. */
export async function tgtRequest(socketPath: string, req: TgtRequest, signal: AbortSignal): Promise<string> {
  const params = req.params === undefined ? Buffer.alloc(0) : Buffer.from(`${req.params}\0`);
  const wire = Buffer.concat([encodeRequest(req, params), params]);
  const socket = connect(socketPath);
  const chunks: Buffer[] = [];
  const answered = new Promise<Buffer>((resolve, reject) => {
    socket.once('connect', () => socket.write(wire));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
  });
  try {
    return decodeResponse(await untilAborted(answered, signal));
  } finally {
    socket.destroy();
  }
}

/** Opens a connection and drops it: an event, which makes tgtd look at its loop's condition again (a system delete waits for one). */
export function knock(socketPath: string): void {
  const socket = connect(socketPath);
  socket.once('connect', () => socket.destroy()).once('error', () => {});
}

/** struct tgtadm_rsp: err @0, len @4 (counting these 8 bytes), then the text shown. */
function decodeResponse(b: Buffer): string {
  if (b.length < 8) throw new Error('tgtd closed the connection without an answer');
  const err = LE ? b.readUInt32LE(0) : b.readUInt32BE(0);
  if (err !== 0) throw new Error(TGT_ERRORS[err] ?? `error ${err}`);
  const len = LE ? b.readUInt32LE(4) : b.readUInt32BE(4);
  return b.subarray(8, len).toString('utf8').replace(/\0+$/, '');
}
