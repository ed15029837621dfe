import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pythonJsonDumps } from '../../src/core/python-json.ts';

describe("Python's json.dumps, as upstream stored metadata", () => {
  it('separates with ", " and ": ", and escapes non-ASCII as \\uXXXX', () => {
    assert.equal(pythonJsonDumps({ a: [1, 'x'], b: null }), '{"a": [1, "x"], "b": null}');
    assert.equal(pythonJsonDumps('rack ü'), '"rack \\u00fc"');
    assert.equal(pythonJsonDumps({ 'é': true }), '{"\\u00e9": true}');
    assert.equal(pythonJsonDumps([]), '[]');
    assert.equal(pythonJsonDumps({}), '{}');
  });
});
