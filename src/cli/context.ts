/** What every `hil` command needs: a client built from the environment, and --json. */
import { HilClient } from '../client/index.ts';

export class CliError extends Error {}

export function clientFromEnv(env: NodeJS.ProcessEnv = process.env): HilClient {
  const endpoint = env.HIL_ENDPOINT;
  if (!endpoint) throw new CliError('HIL_ENDPOINT not set (e.g. export HIL_ENDPOINT=http://127.0.0.1:5000)');
  return new HilClient({ endpoint, username: env.HIL_USERNAME, password: env.HIL_PASSWORD });
}

export interface JsonOption {
  json?: boolean;
}

/** Seconds to wait for networking actions (--wait, --force); HIL_TIMEOUT as upstream, default 60. */
export function waitTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  return (env.HIL_TIMEOUT ? Number(env.HIL_TIMEOUT) : 60) * 1000;
}
