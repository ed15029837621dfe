/** The client package's types are the wire schemas': the checked-in file is what the generator writes now. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { clientTypesSource } from '../../src/wire/client-types.ts';
import { REPO } from '../support/processes.ts';

describe('hil-client types', () => {
  it('packages/hil-client/src/types.ts is generated from the current wire schemas (npm run generate:client-types)', () => {
    assert.equal(readFileSync(`${REPO}packages/hil-client/src/types.ts`, 'utf8'), clientTypesSource());
  });

  it('writes each schema as a TypeScript type: required and optional fields, nullable types, maps, enums', () => {
    const source = clientTypesSource();
    assert.match(source, /export type Node = \{\n {2}metadata: Record<string, string>;/);
    assert.match(source, /port\?: string \| null;/);
    assert.match(source, /status: "PENDING" \| "DONE" \| "ERROR";/);
    assert.match(source, /export type ImagePart = "kernel" \| "initrd" \| "rootfs" \| "disk";/);
  });
});
