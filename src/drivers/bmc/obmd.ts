/**
 * The `obmd` BMC type: an external obmd (CCI-MOC/obmd) drives the BMC, as in
 * upstream HIL. Registered as `{"obmd": {"uri", "admin_token"}}`. HIL asks
 * obmd for a per-node token when the node's OBM is enabled and revokes it
 * when it is disabled; power, boot device and console calls are sent to
 * obmd with that token (307 redirects), and HIL never talks to the BMC.
 */
import { Type } from 'typebox';
import { OBMError } from '../../errors.ts';
import { driverParams, MUST, Secret } from '../params.ts';
import type { DelegatingBmcDriver } from './interface.ts';

export const OBMD_TYPE = 'obmd';

export interface ObmdNode {
  /** obmd's URL for this node, e.g. http://obmd.example:8080/node/n1 (no trailing slash). */
  uri: string;
  adminToken: string;
}

const ObmdParams = Type.Object({
  uri: Type.String({ pattern: '^https?://[^/]', [MUST]: 'an http or https URL', description: "obmd's URL for this node." }),
  admin_token: Secret({ description: "obmd's admin token." }),
});

export function obmdBmcDriver(): DelegatingBmcDriver<ObmdNode> {
  return {
    type: OBMD_TYPE,
    params: driverParams('obmd', ObmdParams, (p) => ({ uri: p.uri.replace(/\/+$/, ''), adminToken: p.admin_token })),
    delegate: {
      enable: (t, timeoutMs) => issueToken(t.params, timeoutMs),
      disable: (t, timeoutMs) => revokeToken(t.params, timeoutMs),
      location: (t, op, token) => `${t.params.uri}/${op}?token=${encodeURIComponent(token ?? '')}`,
    },
  };
}

function adminAuth(node: ObmdNode): string {
  return 'Basic ' + Buffer.from(`admin:${node.adminToken}`).toString('base64');
}

/** One call to obmd's /token as its admin; OBMError saying `failure` if obmd cannot be reached. */
async function tokenCall(node: ObmdNode, method: 'POST' | 'DELETE', timeoutMs: number, failure: string): Promise<Response> {
  try {
    return await fetch(`${node.uri}/token`, { method, headers: { authorization: adminAuth(node) }, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new OBMError(failure, { cause: err });
  }
}

/** Gets a fresh node token (obmd invalidates the previous one). */
async function issueToken(node: ObmdNode, timeoutMs: number): Promise<string> {
  const failure = 'Failed to get a token for node';
  const res = await tokenCall(node, 'POST', timeoutMs, failure);
  const body = (await res.json().catch(() => null)) as { token?: unknown } | null;
  if (!res.ok || typeof body?.token !== 'string') throw new OBMError(`${failure} (obmd answered ${res.status})`);
  return body.token;
}

async function revokeToken(node: ObmdNode, timeoutMs: number): Promise<void> {
  const failure = 'Failed to invalidate token for node';
  const res = await tokenCall(node, 'DELETE', timeoutMs, failure);
  await res.body?.cancel();
  if (!res.ok) throw new OBMError(`${failure} (obmd answered ${res.status})`);
}
