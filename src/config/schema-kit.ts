/** Building blocks of the configuration schema (./schema.ts, ./auth-schema.ts). */
import { Type } from 'typebox';

/** A section refuses keys it does not know (a typo is an error, not a silent default). */
export const Strict = { additionalProperties: false } as const;

/** One of a list of strings, typed as that list's union. */
export const literals = <const V extends readonly string[]>(values: V) => Type.Unsafe<V[number]>(Type.Union(values.map((v) => Type.Literal(v))));
