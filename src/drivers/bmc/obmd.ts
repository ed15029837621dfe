/**
 * Talks to an external obmd (CCI-MOC/obmd), as upstream HIL does: HIL asks
 * obmd for a per-node token when the OBM is enabled and revokes it when it is
 * disabled; power and console calls are redirected to obmd with that token.
 */
import { OBMError } from '../../errors.ts';

export interface ObmdNode {
  uri: string;
  adminToken: string;
}

function adminAuth(node: ObmdNode): string {
  return 'Basic ' + Buffer.from(`admin:${node.adminToken}`).toString('base64');
}

/** Gets a fresh node token (obmd invalidates the previous one). */
export async function obmdIssueToken(node: ObmdNode, timeoutMs: number): Promise<string> {
  let res: Response;
  try {
    res = await fetch(`${node.uri}/token`, { method: 'POST', headers: { authorization: adminAuth(node) }, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new OBMError('Failed to get a token for node', { cause: err });
  }
  const body = (await res.json().catch(() => null)) as { token?: unknown } | null;
  if (!res.ok || typeof body?.token !== 'string') throw new OBMError(`Failed to get a token for node (obmd answered ${res.status})`);
  return body.token;
}

export async function obmdRevokeToken(node: ObmdNode, timeoutMs: number): Promise<void> {
  let res: Response;
  try {
    res = await fetch(`${node.uri}/token`, { method: 'DELETE', headers: { authorization: adminAuth(node) }, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new OBMError('Failed to invalidate token for node', { cause: err });
  }
  await res.body?.cancel();
  if (!res.ok) throw new OBMError(`Failed to invalidate token for node (obmd answered ${res.status})`);
}
