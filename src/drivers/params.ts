/**
 * A driver's registration fields, declared once as a TypeBox schema. The
 * schema validates what an administrator registers (a BadArgumentError that
 * names the field and says what it must be), marks the secret fields
 * (`writeOnly`, JSON Schema's "sent, never returned"), and is published in
 * the OpenAPI document under the driver's type.
 */
import { Type, type Static, type TObject, type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { BadArgumentError } from '../errors.ts';

/** A secret string field: never shown, logged or returned. */
export const Secret = (o: { description?: string; minLength?: number } = {}) => Type.String({ ...o, writeOnly: true });

/** Says what a field must be, where the type alone does not (`"x-must": "an http or https URL"`). */
export const MUST = 'x-must';

export interface DriverParams<T> {
  /** The JSON Schema of the fields (also in GET /openapi.json). */
  readonly schema: TObject;
  readonly secretFields: readonly string[];
  /** Checks and normalises registration fields; throws BadArgumentError naming the first bad one. */
  parse(params: Record<string, unknown>): T;
}

/** Fails a check that the schema cannot express, in the same words as the schema's own. */
export type FieldFailure = (field: string, must: string) => never;

/**
 * `what` names the thing registered, as messages use it ("ipmi OBM",
 * "ovs switch"). `refine` runs after the schema's checks, for rules it
 * cannot say (a URL's scheme, a host that is not an option) and to
 * normalise values.
 */
export function driverParams<S extends TObject, T = Static<S>>(what: string, schema: S, refine?: (p: Static<S>, fail: FieldFailure) => T): DriverParams<T> {
  const properties = schema.properties as Record<string, TSchema>;
  const required = new Set<string>((schema.required as string[] | undefined) ?? []);
  const known = Object.keys(properties);
  const fail: FieldFailure = (field, must) => {
    throw new BadArgumentError(`${what} field "${field}" must be ${must}`);
  };
  return {
    schema,
    secretFields: known.filter((k) => (properties[k] as { writeOnly?: boolean }).writeOnly === true),
    parse(params) {
      for (const k of Object.keys(params)) {
        if (!known.includes(k)) throw new BadArgumentError(`unknown field "${k}" for ${withArticle(what)} (known: ${known.join(', ')})`);
      }
      for (const k of known) {
        if (params[k] === undefined) {
          if (required.has(k)) throw new BadArgumentError(`${what} field "${k}" is required`);
          continue;
        }
        if (!Value.Check(properties[k]!, params[k])) fail(k, mustBe(properties[k]!));
      }
      const checked = params as Static<S>;
      return refine ? refine(checked, fail) : (checked as unknown as T);
    },
  };
}

/** "an ipmi OBM", "a mock switch". */
function withArticle(what: string): string {
  return `${/^[aeiou]/i.test(what) ? 'an' : 'a'} ${what}`;
}

/** What a value of this schema is, in words, for an error message. */
export function mustBe(s: TSchema): string {
  const x = s as Record<string, unknown>;
  if (typeof x[MUST] === 'string') return x[MUST] as string;
  if ('const' in x) return JSON.stringify(x.const);
  if (Array.isArray(x.anyOf)) return (x.anyOf as TSchema[]).map(mustBe).join(' or ');
  switch (x.type) {
    case 'string':
      return Number(x.minLength ?? 0) > 0 ? 'a non-empty string' : 'a string';
    case 'boolean':
      return 'a boolean';
    case 'integer':
    case 'number': {
      const noun = x.type === 'integer' ? 'an integer' : 'a number';
      return x.minimum !== undefined && x.maximum !== undefined ? `${noun} from ${String(x.minimum)} to ${String(x.maximum)}` : noun;
    }
    default:
      return `a value of type ${String(x.type)}`;
  }
}

/**
 * Removes a driver's secrets from text that leaves HIL (an error message, a
 * log line), in every form a device is known to echo them: as given,
 * percent-encoded (a URL), JSON-escaped, base64 (a token), and inside an HTTP
 * Basic header with any of the registration's other string fields as the
 * user name.
 */
export function scrubSecrets(text: string, params: Record<string, unknown>, secretFields: readonly string[]): string {
  const strings = Object.values(params).filter((v): v is string => typeof v === 'string' && v !== '');
  const forms = new Set<string>();
  for (const field of secretFields) {
    const secret = params[field];
    if (typeof secret !== 'string' || secret === '') continue;
    forms.add(secret).add(encodeURIComponent(secret)).add(encodeURI(secret)).add(JSON.stringify(secret).slice(1, -1));
    forms.add(Buffer.from(secret).toString('base64'));
    for (const user of strings) forms.add(Buffer.from(`${user}:${secret}`).toString('base64'));
  }
  // Longest first, so that a form containing another goes whole.
  for (const form of [...forms].sort((a, b) => b.length - a.length)) text = text.split(form).join('<<CENSORED>>');
  return text;
}
