/**
 * A switch driver made of a vendor's CLI dialect: what a vendor module
 * (nexus.ts, powerconnect.ts, os10.ts) exports is one call,
 *
 *   export const nexusSwitchDriver = (ctx: CliDriverContext) => cliSwitchDriver({
 *     type: TYPE_PREFIX + 'nexus', extensionName: 'hil.ext.switches.nexus', what: 'nexus switch',
 *     portName: /^[Ee]thernet\d+\/\d+(\/\d+)?$/, portNameHint: 'ethernet<slot>/<port>',
 *     extraFields: { dummy_vlan: Type.Integer({ minimum: 1, maximum: 4094 }) },
 *     capabilities: ['nativeless-trunk-mode'],
 *     dialect: (p) => nexusDialect(p.dummy_vlan),
 *   }, ctx);
 *
 * and everything else (fields, login, host keys, the session's read /
 * change / read back / save) is shared: ./cli-params.ts, ./ssh-cli.ts,
 * ./cli-session.ts.
 */
import type { TSchema } from 'typebox';
import { Type } from 'typebox';
import { BadArgumentError } from '../../../errors.ts';
import { driverParams, type FieldFailure } from '../../params.ts';
import type { SessionFence, SwitchDriver, SwitchRecord } from '../interface.ts';
import { CLI_FIELDS, refineCliFields, type CliFields } from './cli-params.ts';
import { DEFAULT_TIMEOUTS, openCliSession, type CliLog, type CliSession, type CliTimeouts } from './cli-session.ts';
import type { CliDialect } from './dialect.ts';
import type { HostKeyStore } from './host-keys.ts';

export { DEFAULT_TIMEOUTS, type CliLog, type CliTimeouts };

/** What CLI switch drivers are built with (the catalog passes it to each vendor's factory). */
export interface CliDriverContext {
  /** Where first-use host keys are recorded (dbHostKeyStore in the server, memoryHostKeyStore in tests). */
  hostKeys: HostKeyStore;
  log: CliLog;
  timeouts?: CliTimeouts;
}

export interface CliDriverSpec<P extends CliFields> {
  /** The type URL: TYPE_PREFIX + 'nexus'. */
  type: string;
  /** Reported by GET /v0/active_extensions: 'hil.ext.switches.nexus'. */
  extensionName: string;
  /** The thing registered, in messages: 'nexus switch'. */
  what: string;
  /** The port names the switch could have; validatePortName refuses others. */
  portName: RegExp;
  /** What a port name looks like, for that refusal: 'ethernet<slot>/<port>'. */
  portNameHint: string;
  /** Fields besides CLI_FIELDS (e.g. dummy_vlan). */
  extraFields?: Record<string, TSchema>;
  /** Checks and normalises the extra fields after the schema's checks (and the shared fields'). */
  refine?: (p: P, fail: FieldFailure) => P;
  capabilities: string[];
  /** The vendor's CLI, for a switch registered with these fields. */
  dialect(params: P): CliDialect;
}

export interface CliSwitchDriver<P extends CliFields> extends SwitchDriver<P> {
  /**
   * Logs in and returns a session for a batch of changes. `fence` is not
   * used: a CLI switch has nowhere to keep a fencing token (no generation a
   * command could carry and the switch compare), so the worker's own check
   * of its claim before each call is all the fencing there is.
   */
  openSession(sw: SwitchRecord<P>, fence?: SessionFence): Promise<CliSession>;
}

export function cliSwitchDriver<P extends CliFields>(spec: CliDriverSpec<P>, ctx: CliDriverContext): CliSwitchDriver<P> {
  const schema = Type.Object({ ...CLI_FIELDS, ...spec.extraFields });
  return {
    type: spec.type,
    extensionName: spec.extensionName,

    params: driverParams(spec.what, schema, (p, fail) => {
      const shared = refineCliFields(p as unknown as P, fail);
      return spec.refine ? spec.refine(shared, fail) : shared;
    }),

    validatePortName(port) {
      if (!spec.portName.test(port)) throw new BadArgumentError(`Invalid port name ${JSON.stringify(port)} for a ${spec.what} (expected ${spec.portNameHint})`);
    },

    capabilities() {
      return [...spec.capabilities];
    },

    openSession(sw, _fence) {
      return openCliSession({ sw, dialect: spec.dialect(sw.params), what: spec.what, hostKeys: ctx.hostKeys, log: ctx.log, timeouts: { ...DEFAULT_TIMEOUTS, ...ctx.timeouts } });
    },

    async hostKey(sw) {
      return sw.params.host_key ?? (await ctx.hostKeys.recorded(sw.id));
    },
  };
}
