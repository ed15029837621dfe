/**
 * Building blocks for route schemas. The route schemas are the single source
 * of the wire format: Fastify validates requests with them, serialises
 * responses with them (so a field not in the schema can never leak), and
 * generates /openapi.json from them.
 */
import { Type, type TSchema, type TProperties } from 'typebox';

/** A request body or query: unknown keys are errors, as upstream. */
export const Args = <P extends TProperties>(props: P) => Type.Object(props, { additionalProperties: false });

export const NoArgs = Args({});

/** Path parameters, all strings. */
export const Path = <K extends string>(...names: K[]) =>
  Type.Object(Object.fromEntries(names.map((n) => [n, Type.String()])) as { [k in K]: ReturnType<typeof Type.String> });

export const Labels = Type.Array(Type.String());
export const StringMap = <T extends TSchema>(value: T) => Type.Record(Type.String(), value);
export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

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
