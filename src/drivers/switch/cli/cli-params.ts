/**
 * The registration fields every switch driven over an SSH CLI has, whatever
 * its vendor. Upstream's console drivers took `hostname`, `username` and
 * `password`; the others are extensions of upstream, all optional, so
 * upstream's registration bodies are accepted unchanged:
 *
 * - `ssh_port`: the switch's SSH port (default 22);
 * - `host_key`: the switch's SSH host key fingerprint, "SHA256:<base64>" as
 *   `ssh-keygen -l` and OpenSSH print it; pinned: a switch that shows another
 *   key is refused. Without it the first key seen is recorded and pinned
 *   (trust on first use, ./host-keys.ts);
 * - `save`: whether to copy the running configuration to the startup
 *   configuration after each change (default true; upstream had this as a
 *   per-driver configuration option, `[<driver module>] save`);
 * - `private_key`: an OpenSSH or PEM private key to log in with, tried
 *   before the password (a secret, like the password).
 */
import ssh2 from 'ssh2';
import { Type, type TSchema } from 'typebox';
import { MUST, Secret, type FieldFailure } from '../../params.ts';

/** "SHA256:" and 43 characters of unpadded base64: a SHA-256 digest as OpenSSH prints it. */
export const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;
export const FINGERPRINT_MUST = 'an SSH host key fingerprint "SHA256:<base64>", as ssh-keygen -lf prints it';

export const DEFAULT_SSH_PORT = 22;

export const CLI_FIELDS = {
  hostname: Type.String({ minLength: 1, description: 'The switch\'s management address (host name or IP address).' }),
  username: Type.String({ minLength: 1, description: 'The account HIL logs in with; it must reach privileged exec ("#"), directly or with `enable` and no enable password.' }),
  password: Secret({ description: 'The account\'s password.' }),
  ssh_port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: `The switch's SSH port (default ${DEFAULT_SSH_PORT}).` })),
  host_key: Type.Optional(Type.String({ [MUST]: FINGERPRINT_MUST, pattern: FINGERPRINT.source, description: 'The switch\'s SSH host key fingerprint ("SHA256:…"); without it the first key seen is recorded and required from then on.' })),
  save: Type.Optional(Type.Boolean({ description: 'Save the running configuration after each change (default true).' })),
  private_key: Type.Optional(Secret({ description: 'A private key (OpenSSH or PEM) to log in with, tried before the password.' })),
} satisfies Record<string, TSchema>;

/** The shared fields that are secrets (never shown, logged or put in a message). */
export const CLI_SECRET_FIELDS: readonly string[] = Object.entries(CLI_FIELDS)
  .filter(([, schema]) => (schema as { writeOnly?: boolean }).writeOnly === true)
  .map(([name]) => name);

/** The shared fields as a driver's params hold them after parsing. */
export interface CliFields {
  hostname: string;
  username: string;
  password: string;
  ssh_port?: number;
  host_key?: string;
  save?: boolean;
  private_key?: string;
}

/** The checks of the shared fields that the schema cannot say; vendor `refine`s run after it. */
export function refineCliFields<P extends CliFields>(p: P, fail: FieldFailure): P {
  if (p.host_key !== undefined && !FINGERPRINT.test(p.host_key)) fail('host_key', FINGERPRINT_MUST);
  if (/\s/.test(p.hostname)) fail('hostname', 'a host name or IP address without spaces');
  if (p.private_key !== undefined && ssh2.utils.parseKey(p.private_key) instanceof Error) fail('private_key', 'an OpenSSH or PEM private key without a passphrase');
  return p;
}
