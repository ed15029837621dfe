/** What every `hil` command needs: a client built from the environment, and --json. */
import { HilClient, type ClientOptions } from '../client/index.ts';
import { keystoneToken, oidcClientCredentialsToken, TokenSourceError, type TokenSource } from '../client/token-sources.ts';

export class CliError extends Error {}

export function clientFromEnv(env: NodeJS.ProcessEnv = process.env): HilClient {
  const endpoint = env.HIL_ENDPOINT;
  if (!endpoint) throw new CliError('HIL_ENDPOINT not set (e.g. export HIL_ENDPOINT=http://127.0.0.1:5000)');
  return new HilClient({ endpoint, ...credentialsFromEnv(env) });
}

const OPENSTACK = ['OS_AUTH_URL', 'OS_USERNAME', 'OS_PASSWORD', 'OS_PROJECT_NAME'] as const;
const OIDC = ['HIL_OIDC_ISSUER', 'HIL_OIDC_CLIENT_ID', 'HIL_OIDC_CLIENT_SECRET'] as const;

/**
 * The first credentials the environment holds, in this order (docs/auth.md):
 * HIL_USERNAME and HIL_PASSWORD (Basic); HIL_TOKEN (a token from anywhere);
 * the OpenStack variables (a Keystone token, as upstream's CLI); the
 * HIL_OIDC_* variables (an OpenID provider's client-credentials grant);
 * otherwise none.
 */
export function credentialsFromEnv(env: NodeJS.ProcessEnv): Pick<ClientOptions, 'username' | 'password' | 'token'> {
  if (env.HIL_USERNAME !== undefined && env.HIL_PASSWORD !== undefined) return { username: env.HIL_USERNAME, password: env.HIL_PASSWORD };
  if (env.HIL_TOKEN) return { token: env.HIL_TOKEN };
  if (OPENSTACK.every((v) => env[v])) {
    const source = keystoneToken({
      authUrl: env.OS_AUTH_URL!,
      username: env.OS_USERNAME!,
      password: env.OS_PASSWORD!,
      project: env.OS_PROJECT_NAME!,
      userDomainId: env.OS_USER_DOMAIN_ID,
      projectDomainId: env.OS_PROJECT_DOMAIN_ID,
      userDomainName: env.OS_USER_DOMAIN_NAME,
      projectDomainName: env.OS_PROJECT_DOMAIN_NAME,
    });
    return { token: asCliErrors(source) };
  }
  if (OIDC.every((v) => env[v])) {
    const source = oidcClientCredentialsToken({
      issuer: env.HIL_OIDC_ISSUER!,
      clientId: env.HIL_OIDC_CLIENT_ID!,
      clientSecret: env.HIL_OIDC_CLIENT_SECRET!,
      resource: env.HIL_OIDC_RESOURCE,
      scope: env.HIL_OIDC_SCOPE,
    });
    return { token: asCliErrors(source) };
  }
  return {};
}

/** Whether the environment names any credentials (for the hint a 401 gets). */
export function hasCredentials(env: NodeJS.ProcessEnv): boolean {
  const c = credentialsFromEnv(env);
  return c.token !== undefined || c.username !== undefined;
}

function asCliErrors(source: TokenSource): TokenSource {
  return () =>
    source().catch((err) => {
      throw err instanceof TokenSourceError ? new CliError(err.message) : err;
    });
}

export interface JsonOption {
  json?: boolean;
}

/** Seconds to wait for networking actions (--wait, --force); HIL_TIMEOUT as upstream, default 60. */
export function waitTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  return (env.HIL_TIMEOUT ? Number(env.HIL_TIMEOUT) : 60) * 1000;
}
