/**
 * What a registration body looks like for each driver type (switch models,
 * BMC types), for the OpenAPI document. The routes accept any fields with a
 * `type`: each driver declares and validates its own (src/drivers/params.ts),
 * and its schema is handed to the API to be shown here, secret fields
 * marked `writeOnly`.
 */
import { Type, type TObject, type TSchema } from 'typebox';

export interface DriverFields {
  /** The name registrations give in `type`. */
  readonly type: string;
  /** The driver's fields, as its TypeBox schema declares them. */
  readonly fields: TObject;
}

/** The driver's fields and nothing else (unknown fields are refused by the driver). */
export const onlyFields = (fields: TObject): TSchema => Type.Unsafe({ ...fields, additionalProperties: false });

/** `{"type": <type>, ...its fields}`, one `oneOf` branch per driver type, titled with it. */
export function fieldsByType(types: readonly DriverFields[], description: string): TSchema {
  return Type.Unsafe({
    description,
    oneOf: types.map(({ type, fields }) => ({
      ...fields,
      title: type,
      properties: { type: Type.Literal(type), ...fields.properties },
      required: ['type', ...(fields.required ?? [])],
      additionalProperties: false,
    })),
  });
}
