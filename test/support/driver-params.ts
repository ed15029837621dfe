/**
 * The registration-field part of the driver contract suites, the same for
 * every kind of driver: a driver's DriverParams must accept valid fields and
 * refuse, with a BadArgumentError that names the field, each required field
 * left out, each field given a value of the wrong type, and a field it does
 * not know. The cases are derived from the driver's own schema, so a new
 * driver is checked on every field it declares without anyone listing them.
 */
import assert from 'node:assert/strict';
import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import type { DriverParams } from '../../src/drivers/params.ts';
import { BadArgumentError } from '../../src/errors.ts';

export type Fields = Record<string, unknown>;

/** Fields a driver must refuse, and the field its error must name. */
export interface RefusedFields {
  fields: Fields;
  field: string;
}

/** Not a field of any driver. */
export const UNKNOWN_FIELD = 'contract_unknown_field';

/** Values of different JSON types; a field is mistyped with the first one its schema refuses. */
const WRONG_TYPES: unknown[] = [12345, true, { nested: 'object' }];

/** From the schema: each required field left out, each field mistyped, an unknown field added. */
export function schemaRefusals(params: DriverParams<unknown>, valid: Fields): Array<RefusedFields & { why: string }> {
  const properties = params.schema.properties as Record<string, TSchema>;
  const required = new Set<string>((params.schema.required as string[] | undefined) ?? []);
  const out: Array<RefusedFields & { why: string }> = [];
  for (const [field, schema] of Object.entries(properties)) {
    if (required.has(field)) {
      const { [field]: _left, ...rest } = valid;
      out.push({ fields: rest, field, why: 'missing' });
    }
    const wrong = WRONG_TYPES.find((v) => !Value.Check(schema, v));
    if (wrong !== undefined) out.push({ fields: { ...valid, [field]: wrong }, field, why: `mistyped (${JSON.stringify(wrong)})` });
  }
  out.push({ fields: { ...valid, [UNKNOWN_FIELD]: 'x' }, field: UNKNOWN_FIELD, why: 'unknown' });
  return out;
}

/**
 * Checks `valid` are accepted, and the schema's refusals plus `refused` (the
 * rules a schema cannot say: a URL's scheme, an endpoint's form) are refused
 * with a BadArgumentError naming the field.
 */
export function assertParamsContract(params: DriverParams<unknown>, valid: Fields[], refused: RefusedFields[] = []): void {
  assert.ok(valid.length > 0, 'the row gives at least one set of valid fields');
  for (const fields of valid) assert.doesNotThrow(() => params.parse(structuredClone(fields)), `valid fields refused: ${JSON.stringify(fields)}`);
  const cases = [...schemaRefusals(params, valid[0]), ...refused.map((r) => ({ ...r, why: 'refused by the row' }))];
  for (const c of cases) {
    assert.throws(
      () => params.parse(structuredClone(c.fields)),
      (err: unknown) => {
        assert.ok(err instanceof BadArgumentError, `${c.why} "${c.field}": expected BadArgumentError, got ${String(err)}`);
        assert.ok(err.message.includes(`"${c.field}"`), `${c.why} "${c.field}": the error does not name the field: ${err.message}`);
        return true;
      },
      `${c.why} "${c.field}" was accepted: ${JSON.stringify(c.fields)}`,
    );
  }
}
