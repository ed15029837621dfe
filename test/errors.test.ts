import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_TYPES, HilError } from '../src/errors.ts';
import { errorBody, statusOf, STATUS_OF } from '../src/api/errors.ts';

describe('error catalog', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');

  it('gives every error type one status, the one docs/errors.md documents', () => {
    for (const Type of ERROR_TYPES) {
      const err = new Type('m');
      assert.ok(STATUS_OF.has(Type), `${err.type} has no status`);
      const row = new RegExp(`\\| \`${err.type}\` \\| (\\d{3}) \\|`).exec(doc);
      assert.ok(row, `${err.type} is not documented in docs/errors.md`);
      assert.equal(statusOf(err), Number(row[1]), err.type);
    }
  });

  it('documents no type the catalog does not have', () => {
    const documented = [...doc.matchAll(/^\| `(\w+)` \| (\d{3}) \|/gm)].map((m) => m[1]);
    const catalog = ERROR_TYPES.map((T) => new T('m').type);
    assert.deepEqual([...documented].sort(), [...catalog].sort());
  });

  it('puts the class name on the wire, as upstream', () => {
    const [Type] = ERROR_TYPES;
    assert.deepEqual(errorBody(new Type('bad')), { type: 'ValidationError', msg: 'bad' });
    class Unlisted extends HilError {}
    assert.equal(statusOf(new Unlisted('x')), 500);
  });
});
