/**
 * fast-check arbitraries from the JSON Schemas of /openapi.json: values a
 * schema accepts (strings named by field, from values.ts), and values it
 * refuses, made by breaking one accepted value in one way (a required key
 * missing, a key too many, a value of the wrong type, not an object at all).
 */
import fc from 'fast-check';
import type { JsonSchema } from './routes.ts';
import { deepMarker, keyFor, stringFor } from './values.ts';

/** Any JSON value, small, and sometimes very deeply nested: for schemas that accept anything (node metadata values). */
const anyJson = fc.oneof({ weight: 9, arbitrary: fc.jsonValue({ maxDepth: 3 }) }, { weight: 1, arbitrary: deepMarker });

/** A value the schema accepts; `field` is the property it is for (it picks the strings). */
export function validValue(schema: JsonSchema, field?: string): fc.Arbitrary<unknown> {
  const branches = schema.anyOf ?? schema.oneOf;
  if (branches) return fc.oneof(...branches.map((b: JsonSchema) => validValue(b, field)));
  if (schema.enum) return fc.constantFrom(...schema.enum);
  if (Array.isArray(schema.type)) return fc.oneof(...schema.type.map((type: string) => validValue({ ...schema, type }, field)));
  switch (schema.type) {
    case 'object':
      return objectValue(schema, field);
    case 'string':
      return stringValue(schema, field);
    case 'boolean':
      return fc.boolean();
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -(2 ** 31), max: schema.maximum ?? 2 ** 31 });
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(validValue(schema.items ?? {}, field), { maxLength: 3 });
    default:
      return anyJson;
  }
}

function stringValue(schema: JsonSchema, field?: string): fc.Arbitrary<string> {
  if (schema.pattern && !['uri'].includes(field ?? '')) {
    try {
      return fc.stringMatching(new RegExp(schema.pattern), { maxLength: 20 });
    } catch {
      // a pattern fast-check cannot generate from: fall back to the field's values
    }
  }
  return stringFor(field);
}

function objectValue(schema: JsonSchema, field?: string): fc.Arbitrary<Record<string, unknown>> {
  const props: Record<string, JsonSchema> = schema.properties ?? {};
  const required = new Set<string>(schema.required ?? []);
  const fixed = fc.record(
    Object.fromEntries(Object.entries(props).map(([k, s]) => [k, validValue(s, k)])),
    { requiredKeys: [...required] },
  ) as fc.Arbitrary<Record<string, unknown>>;
  const extra = schema.additionalProperties;
  if (!extra || typeof extra !== 'object') return fixed;
  // Free keys (metadata, deploy networks): a few, named for the field.
  const free = fc.dictionary(keyFor(field), validValue(extra, undefined), { maxKeys: 3 });
  return fc.tuple(fixed, free).map(([f, d]) => ({ ...d, ...f }));
}

/** Values of every JSON type, for a field that wants another one. */
const wrongTypes: fc.Arbitrary<unknown> = fc.oneof(
  deepMarker,
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.constantFrom(1.5, -0, 1e308, 2 ** 53 + 1),
  fc.string({ maxLength: 8 }),
  fc.constant([]),
  fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }),
  fc.constant({}),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.string({ maxLength: 3 }), { maxKeys: 2 }),
);

/** Keys an object schema may not expect. */
const extraKeys = fc.constantFrom('extra', '', '__proto__', 'constructor', 'type', 'node', 'project', 'network', 'value', 'x'.repeat(300));

/**
 * A value the schema (probably) refuses: an accepted one with one thing
 * broken, or not an object at all. Not guaranteed refused (an anyOf branch
 * may accept it); the checks only judge how the server answers.
 */
export function invalidValue(schema: JsonSchema): fc.Arbitrary<unknown> {
  const base = validValue(schema).filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v));
  const withoutKey = base.chain((v) => {
    const keys = Object.keys(v);
    return keys.length ? fc.constantFrom(...keys).map((k) => Object.fromEntries(Object.entries(v).filter(([key]) => key !== k))) : fc.constant(v);
  });
  const withExtra = fc.tuple(base, extraKeys, wrongTypes).map(([v, k, x]) => {
    const out = { ...v };
    Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
    return out;
  });
  const wrongType = base.chain((v) => {
    const keys = Object.keys(v);
    return keys.length ? fc.tuple(fc.constantFrom(...keys), wrongTypes).map(([k, x]) => ({ ...v, [k]: x })) : fc.constant(v);
  });
  return fc.oneof(withoutKey, withExtra, wrongType, wrongTypes);
}
