/**
 * The error catalog. Class names are the wire `type` of upstream HIL's
 * `{"type": ..., "msg": ...}` error bodies, so they must never be renamed.
 * Only src/api/errors.ts maps them to HTTP status codes.
 */

export class HilError extends Error {
  /** The `type` field on the wire: the class name, as upstream. */
  get type(): string {
    return this.constructor.name;
  }
}

/** Request arguments failed the route schema (also bad JSON, GET bodies). */
export class ValidationError extends HilError {}
/** An argument is well-formed but not acceptable (illegal channel, bad net_id). */
export class BadArgumentError extends HilError {}
/** Not authenticated, or not allowed; upstream uses 401 for both. */
export class AuthorizationError extends HilError {}
export class NotFoundError extends HilError {}
export class DuplicateError extends HilError {}
export class ProjectMismatchError extends HilError {}
/** The request is legal but the current state forbids it (try again later). */
export class BlockedError extends HilError {}
export class IllegalStateError extends HilError {}
/** The route exists, but not for this HTTP method. */
export class MethodNotAllowedError extends HilError {}
/** A request body (an uploaded file) larger than the server accepts. */
export class TooLargeError extends HilError {}
/** The request's headers are larger than the server reads (Node's limit). Not in upstream. */
export class HeadersTooLargeError extends HilError {}
/** A feature that exists upstream but is not offered by this server (headnodes). */
export class NotImplementedError extends HilError {}

/** The server is shutting down: it finishes what it has, and takes nothing new (ours; try again, or another server). */
export class ServiceUnavailableError extends HilError {}

/** Server-side failures: always 500; details go to the log, not the client. */
export class ServerError extends HilError {}
/**
 * The network-ID allocator has nothing left ("No more networks"). Upstream
 * answered 500; running out of VLANs is the pool's state, not a server fault.
 */
export class AllocationError extends HilError {}
/** The BMC, or obmd, failed or did not answer in time. */
export class OBMError extends ServerError {}
/** A switch driver failed; in the worker this turns the action into ERROR. */
export class SwitchError extends ServerError {}
/** The storage backend (qemu-img, Ceph) failed or did not answer; the message carries the tool's words. */
export class StorageError extends ServerError {}
/** A derived HIL's base HIL failed, refused, or did not answer; the message carries the base's words. */
export class UpstreamError extends ServerError {}

export const ERROR_TYPES = [
  ValidationError,
  BadArgumentError,
  AuthorizationError,
  NotFoundError,
  DuplicateError,
  ProjectMismatchError,
  BlockedError,
  IllegalStateError,
  MethodNotAllowedError,
  TooLargeError,
  HeadersTooLargeError,
  NotImplementedError,
  ServiceUnavailableError,
  ServerError,
  AllocationError,
  OBMError,
  SwitchError,
  StorageError,
  UpstreamError,
] as const;

/**
 * Internal: work bounded by a timeout (util/timeout.ts) took too long. Never
 * on the wire by itself: whoever bounded the work answers with the wire error
 * of what timed out (OBMError for a BMC, an ERROR action for a switch).
 */
export class TimeoutError extends Error {}

/** Internal: the configuration (file, environment, database URL) cannot work; the process says why and stops. */
export class ConfigError extends Error {}

/** Internal: a listener could not be opened at start (address in use, no permission); the process says why and stops. */
export class ListenError extends Error {}

/**
 * A failed listen() as one line: what could not listen where, why in words,
 * and the setting that chooses the address.
 */
export function listenError(what: string, where: string, setting: string, err: unknown): ListenError {
  const e = err as NodeJS.ErrnoException;
  const why: Record<string, string> = {
    EADDRINUSE: 'the address is already in use (is another hil-admin serve running?)',
    EACCES: 'permission denied (ports below 1024 need root)',
    EADDRNOTAVAIL: 'this machine has no such address',
    ENOTFOUND: 'no such host name',
  };
  return new ListenError(`cannot listen on ${where} for ${what}: ${why[e.code ?? ''] ?? e.message}; choose another with ${setting}`, { cause: err });
}

/** Internal: the database schema is older than this program; `hil-admin db migrate` brings it up to date. */
export class SchemaOutdatedError extends Error {}
