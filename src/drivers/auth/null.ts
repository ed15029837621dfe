/** Development only: every caller is an administrator. */
import { admin } from '../../core/principal.ts';
import type { AuthBackend } from './interface.ts';

export function nullAuth(): AuthBackend {
  const principal = admin('null-auth');
  return {
    extensionName: 'hil.ext.auth.null',
    async authenticate() {
      return principal;
    },
    invalidate() {},
  };
}
