/**
 * The one place that maps error types to HTTP. The body is upstream's
 * `{"type": ..., "msg": ...}`. Server-side errors say what failed but carry
 * no stack or internals; those go to the log with the request id.
 */
import {
  AllocationError,
  AuthorizationError,
  BadArgumentError,
  BlockedError,
  DuplicateError,
  HilError,
  IllegalStateError,
  MethodNotAllowedError,
  NotFoundError,
  NotImplementedError,
  OBMError,
  ProjectMismatchError,
  ServerError,
  ServiceUnavailableError,
  StorageError,
  SwitchError,
  TooLargeError,
  HeadersTooLargeError,
  UpstreamError,
  ValidationError,
} from '../errors.ts';

export const STATUS_OF = new Map<Function, number>([
  [ValidationError, 400],
  [BadArgumentError, 400],
  [AuthorizationError, 401],
  [NotFoundError, 404],
  [DuplicateError, 409],
  [ProjectMismatchError, 409],
  [BlockedError, 409],
  [IllegalStateError, 409],
  [MethodNotAllowedError, 405],
  [TooLargeError, 413],
  [HeadersTooLargeError, 431],
  [NotImplementedError, 501],
  [ServiceUnavailableError, 503],
  [ServerError, 500],
  [AllocationError, 409],
  [OBMError, 500],
  [SwitchError, 500],
  [StorageError, 500],
  [UpstreamError, 502],
]);

export function statusOf(err: HilError): number {
  for (let c: Function | null = err.constructor; c && c !== HilError; c = Object.getPrototypeOf(c)) {
    const s = STATUS_OF.get(c);
    if (s !== undefined) return s;
  }
  return 500;
}

export function errorBody(err: HilError): { type: string; msg: string } {
  return { type: err.type, msg: err.message };
}
