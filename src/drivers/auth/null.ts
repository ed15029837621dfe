/** Development only: every caller is an administrator. */
import { admin, type AuthBackend } from './interface.ts';

export function nullAuth(): AuthBackend {
  const principal = admin('null-auth');
  return {
    type: 'null',
    extensionName: 'hil.ext.auth.null',
    async authenticate() {
      return principal;
    },
    invalidate() {},
  };
}
