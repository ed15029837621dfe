/**
 * The building blocks of the /v0 wire contract. The schemas in src/wire/ are
 * the single source of the wire format: the server (src/api) validates
 * requests with them, serialises responses with them (so a field not in a
 * schema can never leak) and generates /openapi.json from them; the client
 * (src/client) takes its types from them. This folder imports only TypeBox.
 */
import { Type, type Static, type TSchema, type TProperties } from 'typebox';

/** A request body or query: unknown keys are errors, as upstream. */
export const Args = <P extends TProperties>(props: P) => Type.Object(props, { additionalProperties: false });

export const NoArgs = Args({});

/** Path parameters, all strings. */
export const Path = <K extends string>(...names: K[]) =>
  Type.Object(Object.fromEntries(names.map((n) => [n, Type.String()])) as { [k in K]: ReturnType<typeof Type.String> });

export const Labels = Type.Array(Type.String());

/**
 * A map with arbitrary string keys. Written as `additionalProperties` rather
 * than TypeBox's Record (a `patternProperties` regex), which the response
 * serialiser handles several times faster.
 */
export const StringMap = <T extends TSchema>(value: T) => Type.Unsafe<Record<string, Static<T>>>({ type: 'object', additionalProperties: value });

/**
 * `T` or null, as a JSON Schema type list (OpenAPI 3.1) rather than anyOf,
 * which the response serialiser would resolve by validating every value.
 */
export const Nullable = <T extends TSchema & { type: string }>(t: T) => Type.Unsafe<Static<T> | null>({ ...t, type: [t.type, 'null'] });

/** One of a fixed set of strings, as a JSON Schema enum. */
export const StringEnum = <const V extends readonly string[]>(values: V) => Type.Unsafe<V[number]>({ type: 'string', enum: [...values] });

/** The answer of a call that queues a networking action: poll GET /v0/networking_action/<status_id>. */
export const StatusId = Type.Object({ status_id: Type.String({ format: 'uuid' }) });

export const ErrorBody = Type.Object({ type: Type.String(), msg: Type.String() }, { description: 'Upstream HIL error: the error class and a message' });

/** Responses every route may give; documented once, referenced by all. */
export const ERROR_RESPONSES = {
  400: ErrorBody,
  401: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  500: ErrorBody,
};

/** 200 with an empty body: what upstream returns for calls that return nothing. */
export const Empty = Type.Null({ description: 'Empty body' });

/** A response of raw bytes (application/octet-stream), not JSON. */
export const Bytes = (description = 'application/octet-stream') => Type.String({ description });
