import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from 'typebox';
import { BadArgumentError } from '../../src/errors.ts';
import { driverParams, MUST, mustBe, Secret } from '../../src/drivers/params.ts';

const Fields = Type.Object({
  host: Type.String({ minLength: 1 }),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  password: Secret(),
  mode: Type.Optional(Type.Union([Type.Literal('a'), Type.Literal('b')])),
  url: Type.Optional(Type.String({ [MUST]: 'an http URL' })),
});

const refused = (f: () => unknown, message: string) =>
  assert.throws(f, (e: Error) => e instanceof BadArgumentError && e.message === message, message);

describe('driver registration fields', () => {
  const params = driverParams('ipmi OBM', Fields);

  it('accepts fields the schema allows and hands them back', () => {
    assert.deepEqual(params.parse({ host: 'h', password: '' }), { host: 'h', password: '' });
    assert.deepEqual(params.parse({ host: 'h', password: 'p', port: 623, mode: 'b' }), { host: 'h', password: 'p', port: 623, mode: 'b' });
  });

  it('names the field, in the order unknown, missing, then wrong', () => {
    refused(() => params.parse({ host: 'h', password: 'p', addr: 1 }), 'unknown field "addr" for an ipmi OBM (known: host, port, password, mode, url)');
    refused(() => params.parse({ password: 'p' }), 'ipmi OBM field "host" is required');
    refused(() => params.parse({ host: '', password: 'p' }), 'ipmi OBM field "host" must be a non-empty string');
    refused(() => params.parse({ host: 'h', password: 7 }), 'ipmi OBM field "password" must be a string');
    refused(() => params.parse({ host: 'h', password: 'p', port: 0 }), 'ipmi OBM field "port" must be an integer from 1 to 65535');
    refused(() => params.parse({ host: 'h', password: 'p', mode: 'c' }), 'ipmi OBM field "mode" must be "a" or "b"');
    refused(() => params.parse({ host: 'h', password: 'p', url: 3 }), 'ipmi OBM field "url" must be an http URL');
  });

  it('marks secret fields from the schema (writeOnly), nothing else', () => {
    assert.deepEqual(params.secretFields, ['password']);
    assert.equal((params.schema.properties as Record<string, { writeOnly?: boolean }>).password!.writeOnly, true);
  });

  it('runs the refinement after the schema, in the same words, and returns what it makes', () => {
    const refined = driverParams('mock switch', Fields, (p, fail) => {
      if (p.host.startsWith('-')) fail('host', 'a host name, not an option');
      return { target: `${p.host}:${p.port ?? 623}` };
    });
    assert.deepEqual(refined.parse({ host: 'bmc', password: 'p' }), { target: 'bmc:623' });
    refused(() => refined.parse({ host: '-oProxy', password: 'p' }), 'mock switch field "host" must be a host name, not an option');
    refused(() => refined.parse({ host: 'bmc' }), 'mock switch field "password" is required');
  });

  it('says what a value must be for each kind of schema', () => {
    assert.equal(mustBe(Type.Boolean()), 'a boolean');
    assert.equal(mustBe(Type.Number()), 'a number');
    assert.equal(mustBe(Type.Literal('x')), '"x"');
    assert.equal(mustBe(Type.String({ [MUST]: 'an endpoint' })), 'an endpoint');
  });
});
