/**
 * hil-client: the typed client of the HIL /v0 API.
 *
 *   import { HilClient } from 'hil-client';
 *   const hil = new HilClient({ endpoint: 'http://127.0.0.1:5000', username: 'alice', password: '…' });
 *   await hil.node.list('free');
 */
export { HilClient } from './client.ts';
export type { ImageDownload, NodeObm, WaitOptions } from './client.ts';
export type * from './types.ts';
export { HilApiError, type ClientOptions } from './http.ts';
export type { InteractiveConsole } from './console.ts';
