/** The logger keeps credentials out of log lines, whichever header carries them. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/util/log.ts';

describe('log redaction', () => {
  it('censors Basic credentials, bearer tokens, X-Auth-Token and passwords', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const log = createLogger('info', sink);
    const secrets = ['Basic YWRtaW46c2VjcmV0', 'Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig', 'gAAAAABkeystone-token', 'hunter2'];
    log.info({ req: { headers: { authorization: secrets[0], 'x-auth-token': secrets[2], host: 'hil' } } }, 'request');
    log.info({ headers: { authorization: secrets[1], 'x-auth-token': secrets[2] } }, 'outgoing');
    log.info({ password: secrets[3] }, 'login');
    const text = lines.join('');
    for (const s of secrets) assert.ok(!text.includes(s), `${s} in the log: ${text}`);
    assert.ok(text.includes('"host":"hil"'), 'other headers are kept');
    assert.equal(text.match(/<<CENSORED>>/g)?.length, 5);
  });
});
