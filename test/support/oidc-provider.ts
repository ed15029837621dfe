/**
 * A real OpenID provider for the OIDC auth tests: panva's certified
 * oidc-provider, listening on 127.0.0.1 in the test process. HIL's verifier
 * then meets the tokens, discovery document and JWKS that production
 * providers serve, not a hand-made imitation of them.
 *
 * The provider issues JWT access tokens (RFC 9068, typ at+jwt, RS256) through
 * the client_credentials grant. oidc-provider only issues JWTs for a resource
 * server (RFC 8707 resource indicators), so every request without a
 * `resource` is given the configured audience, and any other absolute URI is
 * accepted too: that is how a wrong-audience token is obtained for real.
 *
 * Clients live in a registry of this harness that the provider reads through
 * its storage adapter, so addClient works at any time and the clients outlive
 * a key rotation. A client's claims are copied into each token it gets
 * (extraTokenClaims); a client's secret is sent with client_secret_basic.
 *
 * Rotation builds a new Provider with the new keys and swaps it in behind
 * the same HTTP server: same issuer, same port, only the new keys published.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { freePort } from '../../src/lab/system.ts';

export interface OidcClientSpec {
  id: string;
  secret?: string; // default: a random one
  /**
   * Copied into every access token the client gets, e.g. { hil_projects: ['runway'], hil_admin: true };
   * the provider's own claims (iss, aud, sub, exp, client_id, ...) win over these.
   */
  claims?: Record<string, unknown>;
}

export interface OidcProviderOptions {
  /** Private signing JWKs, each with a kid (default: one fresh RS256 key). */
  keys?: JWK[];
  /** Lifetime of issued access tokens (default 600 s). */
  accessTokenTtlSeconds?: number;
  /** The `aud` of tokens requested without a resource (default 'urn:hil:test'). */
  audience?: string;
  port?: number; // default: a free one
  clients?: OidcClientSpec[];
}

export interface OidcProvider {
  issuer: string; // http://127.0.0.1:PORT
  discoveryUrl: string;
  jwksUri: string;
  tokenEndpoint: string;
  audience: string;
  /** The private keys the provider signs with now. */
  keys: JWK[];
  /** Registers (or replaces) a client; returns its secret. */
  addClient(id: string, o?: { secret?: string; claims?: Record<string, unknown> }): string;
  /** An access token from the token endpoint, obtained over HTTP as a real client would. */
  issue(clientId: string, o?: { resource?: string; scope?: string }): Promise<string>;
  /** Signs with new keys (default: one fresh RS256 key) and publishes only them. */
  rotate(newKeys?: JWK[]): Promise<JWK[]>;
  /** The token with claims changed (default hil_admin: true) and the old signature kept. */
  tamper(token: string, changes?: Record<string, unknown>): string;
  /** The token's payload under {alg: 'none'} with an empty signature. */
  unsigned(token: string): string;
  /** A provider-signed token that expired ageSeconds (default 3600) ago. */
  expiredToken(clientId: string, o?: { ageSeconds?: number }): Promise<string>;
  /** A real token's payload re-signed by a key the JWKS does not hold (same kid unless given). */
  foreignToken(clientId: string, o?: { kid?: string }): Promise<string>;
  /** A provider-signed token whose aud is `audience` (default 'urn:hil:elsewhere'). */
  wrongAudience(clientId: string, audience?: string): Promise<string>;
  /** A token from a second provider on another port, with the same clients and the keys of its first use. */
  wrongIssuer(clientId: string): Promise<string>;
  close(): Promise<void>;
}

/** The few members of oidc-provider's Provider used here: the package ships no types. */
interface ProviderInstance {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  on(event: 'server_error', listener: (ctx: unknown, err: Error) => void): void;
}
type ProviderClass = new (issuer: string, configuration: Record<string, unknown>) => ProviderInstance;

/** The parts of the Koa context the configuration hooks read. */
interface HookContext {
  get(header: string): string;
  oidc: { params: { scope?: unknown } };
}

/** Asks the jwt customizer to backdate one token: a per-request header, so concurrent requests cannot mix. */
const BACKDATE_HEADER = 'x-hil-test-backdate';

let providerClass: Promise<ProviderClass> | undefined;

/**
 * Loads oidc-provider once. It warns at import time on a Node release that is
 * not LTS (24.9 is not); that one warning is dropped, anything else passes.
 * The specifier is a variable because without types a literal import fails
 * the type check.
 */
function loadProvider(): Promise<ProviderClass> {
  providerClass ??= (async () => {
    const specifier = 'oidc-provider';
    const warn = console.warn;
    console.warn = (...args: unknown[]) => {
      if (!String(args[0]).includes('Unsupported runtime')) warn(...args);
    };
    try {
      return (await import(specifier)).Provider as ProviderClass;
    } finally {
      console.warn = warn;
    }
  })();
  return providerClass;
}

export async function rsaSigningKey(kid: string = randomUUID()): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
}

interface Registry {
  clients: Map<string, { secret: string; claims: Record<string, unknown> }>;
  audience: string;
  ttl: number;
}

/**
 * oidc-provider's storage adapter, with only the calls client_credentials
 * makes. Clients come from the registry; anything else (JWT tokens are not
 * stored) goes into a Map. Our own adapter also keeps the provider from
 * warning about its development one.
 */
function adapterFor(registry: Registry) {
  return class Adapter {
    store = new Map<string, Record<string, unknown>>();
    model: string;
    constructor(model: string) {
      this.model = model;
    }
    async find(id: string) {
      if (this.model !== 'Client') return this.store.get(id);
      const client = registry.clients.get(id);
      if (!client) return undefined;
      const auth = { client_secret: client.secret, token_endpoint_auth_method: 'client_secret_basic' };
      return { client_id: id, ...auth, grant_types: ['client_credentials'], response_types: [], redirect_uris: [] };
    }
    async upsert(id: string, payload: Record<string, unknown>) {
      this.store.set(id, payload);
    }
    async destroy(id: string) {
      this.store.delete(id);
    }
  };
}

/** Everything is set, defaults that print "you SHOULD change" notices included. */
function configuration(registry: Registry, keys: JWK[]): Record<string, unknown> {
  return {
    adapter: adapterFor(registry),
    jwks: { keys },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => registry.audience,
        getResourceServerInfo: async (ctx: HookContext, resource: string) => ({
          audience: resource,
          // The harness is no authority on scopes: whatever is asked for is granted.
          scope: String(ctx.oidc.params.scope ?? ''),
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    ttl: { ClientCredentials: registry.ttl },
    extraTokenClaims: async (_ctx: unknown, token: { clientId: string }) => registry.clients.get(token.clientId)?.claims,
    formats: {
      customizers: {
        jwt: async (ctx: HookContext, _token: unknown, jwt: { payload: { iat: number; exp: number } }) => {
          const age = Number(ctx.get(BACKDATE_HEADER) || 0);
          if (!age) return;
          const lifetime = jwt.payload.exp - jwt.payload.iat;
          jwt.payload.exp = Math.floor(Date.now() / 1000) - age;
          jwt.payload.iat = jwt.payload.exp - lifetime;
        },
      },
    },
  };
}

/** One HTTP server in front of a Provider that can be replaced (rotation). */
async function serve(registry: Registry, keys: JWK[], port?: number) {
  const Provider = await loadProvider();
  port ??= await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  // The provider reports 500s only through this event; the last one goes into issue()'s error.
  let lastServerError: Error | undefined;
  const build = (k: JWK[]) => {
    const provider = new Provider(issuer, configuration(registry, k));
    provider.on('server_error', (_ctx, err) => (lastServerError = err));
    return provider.callback();
  };
  let handler = build(keys);
  const server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  // A provider shared by a test file's suites is never closed by one of them: it must not keep the process alive.
  server.unref();
  return {
    issuer,
    lastServerError: () => lastServerError,
    swap(k: JWK[]) {
      handler = build(k);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // fetch keeps connections alive; they would hold close() and the process.
        server.closeAllConnections();
      }),
  };
}

type Served = Awaited<ReturnType<typeof serve>>;

async function requestToken(served: Served, registry: Registry, clientId: string, o: { resource?: string; scope?: string; backdate?: number }) {
  const client = registry.clients.get(clientId);
  if (!client) throw new Error(`oidc-provider harness: no client ${clientId}`);
  const body = new URLSearchParams({ grant_type: 'client_credentials' });
  if (o.resource) body.set('resource', o.resource);
  if (o.scope) body.set('scope', o.scope);
  const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(client.secret)}`).toString('base64');
  const headers: Record<string, string> = { authorization: `Basic ${basic}` };
  if (o.backdate) headers[BACKDATE_HEADER] = String(o.backdate);
  const res = await fetch(`${served.issuer}/token`, { method: 'POST', headers, body });
  const json = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
  if (!res.ok || !json.access_token) {
    const cause = served.lastServerError();
    throw new Error(`oidc-provider harness: token request for ${clientId}: ${res.status} ${json.error}: ${json.error_description}${cause ? ` (${cause.message})` : ''}`);
  }
  return json.access_token;
}

const jsonPart = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

export async function startOidcProvider(o: OidcProviderOptions = {}): Promise<OidcProvider> {
  const registry: Registry = { clients: new Map(), audience: o.audience ?? 'urn:hil:test', ttl: o.accessTokenTtlSeconds ?? 600 };
  const addClient = (id: string, c: { secret?: string; claims?: Record<string, unknown> } = {}) => {
    const secret = c.secret ?? randomBytes(16).toString('hex');
    registry.clients.set(id, { secret, claims: c.claims ?? {} });
    return secret;
  };
  for (const c of o.clients ?? []) addClient(c.id, c);

  let keys = o.keys ?? [await rsaSigningKey()];
  const served = await serve(registry, keys, o.port);
  let other: Promise<Served> | undefined;
  const issue = (clientId: string, r: { resource?: string; scope?: string; backdate?: number } = {}) => requestToken(served, registry, clientId, r);

  return {
    issuer: served.issuer,
    discoveryUrl: `${served.issuer}/.well-known/openid-configuration`,
    jwksUri: `${served.issuer}/jwks`,
    tokenEndpoint: `${served.issuer}/token`,
    audience: registry.audience,
    get keys() {
      return keys;
    },
    addClient,
    issue,
    async rotate(newKeys) {
      keys = newKeys ?? [await rsaSigningKey()];
      served.swap(keys);
      return keys;
    },
    tamper(token, changes = { hil_admin: true }) {
      const [header, , signature] = token.split('.');
      return `${header}.${jsonPart({ ...decodeJwt(token), ...changes })}.${signature}`;
    },
    unsigned: (token) => `${jsonPart({ alg: 'none', typ: 'at+jwt' })}.${token.split('.')[1]}.`,
    expiredToken: (clientId, e = {}) => issue(clientId, { backdate: e.ageSeconds ?? 3600 }),
    async foreignToken(clientId, f = {}) {
      const real = await issue(clientId);
      const { privateKey } = await generateKeyPair('RS256');
      const kid = f.kid ?? decodeProtectedHeader(real).kid;
      return new SignJWT(decodeJwt(real)).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid }).sign(privateKey);
    },
    wrongAudience: (clientId, audience = 'urn:hil:elsewhere') => issue(clientId, { resource: audience }),
    async wrongIssuer(clientId) {
      // Started on first use, with the keys of that moment: only `iss` tells its tokens apart.
      other ??= serve(registry, keys);
      return requestToken(await other, registry, clientId, {});
    },
    async close() {
      await served.close();
      if (other) await (await other).close();
    },
  };
}
