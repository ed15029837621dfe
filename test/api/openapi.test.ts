/**
 * GET /openapi.json shows the registration fields of every switch type and
 * every BMC type the server knows, secrets marked writeOnly; the routes still
 * accept any fields and leave their validation to the driver.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TObject } from 'typebox';
import { testDatabases } from '../support/databases.ts';
import { withHil } from '../support/hil.ts';
import { assertError, MOCK_SWITCH } from '../support/fixtures.ts';

interface Branch {
  title?: string;
  properties: Record<string, { enum?: string[]; writeOnly?: boolean }>;
  required?: string[];
}

function requestSchema(doc: any, path: string): any {
  return doc.paths[path].put.requestBody.content['application/json'].schema;
}

/** The `oneOf` branch documenting `type`, checked against the driver's own schema. */
function assertDocumented(branches: Branch[], driver: { type: string; params: { schema: TObject; secretFields: readonly string[] } }): void {
  assert.ok(Array.isArray(branches), 'the fields are documented as oneOf, one branch per type');
  const branch = branches.find((b) => b.properties.type?.enum?.length === 1 && b.properties.type.enum[0] === driver.type);
  assert.ok(branch, `no branch for ${driver.type} in ${branches.map((b) => b.title).join(', ')}`);
  assert.equal(branch.title, driver.type);
  const fields = Object.keys(driver.params.schema.properties);
  assert.deepEqual(Object.keys(branch.properties).sort(), ['type', ...fields].sort(), driver.type);
  assert.deepEqual([...(branch.required ?? [])].sort(), ['type', ...((driver.params.schema.required as string[] | undefined) ?? [])].sort(), driver.type);
  for (const field of fields) {
    assert.equal(branch.properties[field]!.writeOnly === true, driver.params.secretFields.includes(field), `${driver.type} field ${field}: writeOnly`);
  }
}

for (const database of testDatabases()) {
  describe(`openapi on ${database.name}`, { skip: database.skip }, () => {
    it("shows every switch type's registration fields, secrets writeOnly", () =>
      withHil(database, {}, async (t) => {
        const doc = (await t.as()('GET', '/openapi.json')).body;
        const branches: Branch[] = requestSchema(doc, '/v0/switch/{switch}').oneOf;
        const drivers = t.hil.switches.all();
        assert.ok(drivers.length >= 2 && drivers.some((d) => d.params.secretFields.length > 0), 'the test sees several switch types, one with a secret');
        for (const driver of drivers) assertDocumented(branches, driver);
        assert.equal(branches.length, drivers.length);
      }));

    it("shows every BMC type's registration fields under obm, and obmd's under obmd, secrets writeOnly", () =>
      withHil(database, {}, async (t) => {
        const doc = (await t.as()('GET', '/openapi.json')).body;
        const [obmd, obm] = requestSchema(doc, '/v0/node/{node}').anyOf;
        const drivers = t.hil.bmcs.all();
        assert.ok(drivers.length >= 3 && drivers.filter((d) => d.params.secretFields.length > 0).length >= 2, 'the test sees several BMC types with secrets');
        for (const driver of drivers) assertDocumented(obm.properties.obm.oneOf, driver);
        assert.equal(obm.properties.obm.oneOf.length, drivers.length);
        assert.equal(obmd.properties.obmd.properties.admin_token.writeOnly, true);
        assert.deepEqual(Object.keys(obmd.properties.obmd.properties).sort(), Object.keys(t.hil.bmcs.resolve('obmd').params.schema.properties).sort());
      }));

    it('leaves the validation of registration fields to the driver, which names the field', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        assertError(await api('PUT', '/v0/switch/sw0', { type: MOCK_SWITCH, hostname: 'h', username: 'u', password: 'p', colour: 'red' }), 400, 'BadArgumentError', /"colour"/);
        assertError(await api('PUT', '/v0/node/n1', { obm: { type: 'ipmi', host: 'bmc.example', user: 'u', password: 'p', colour: 'red' } }), 400, 'BadArgumentError', /"colour"/);
      }));
  });
}
