/** Nodes, their nics and metadata: /v0/node/<node>, /v0/nodes/<is_free>. */
import { Type } from 'typebox';
import { Args, Nullable, StringMap } from './common.ts';
import { fieldsByType, onlyFields, type DriverFields } from './driver-fields.ts';

const Metadata = Type.Optional(StringMap(Type.Unknown()));

/** An external obmd drives the node's BMC (upstream's registration). */
export const ObmdFields = Args({ uri: Type.String({ pattern: '^https?://[^/]', description: "obmd's URL for this node (http or https)" }), admin_token: Type.String() });

const OBM_DESCRIPTION = 'A built-in OBM driver ("mock", …) and its fields';

/**
 * A built-in BMC type and its fields. Any fields pass here: the BMC type
 * checks its own (and names the bad one); /openapi.json lists each type's.
 */
export const ObmFields = Type.Object({ type: Type.String() }, { additionalProperties: true, description: OBM_DESCRIPTION });

export const RegisterNodeBody = Type.Union([Args({ obmd: ObmdFields, metadata: Metadata }), Args({ obm: ObmFields, metadata: Metadata })]);

/** RegisterNodeBody as /openapi.json shows it: the fields of the obmd type and of every BMC type. */
export function documentedRegisterNodeBody(bmcTypes: readonly DriverFields[], obmd: DriverFields | undefined) {
  return Type.Union([
    Args({ obmd: obmd ? onlyFields(obmd.fields) : ObmdFields, metadata: Metadata }),
    Args({ obm: fieldsByType(bmcTypes, OBM_DESCRIPTION), metadata: Metadata }),
  ]);
}

export const AddNicBody = Args({ macaddr: Type.String() });

export const SetMetadataBody = Args({ value: Type.Unknown() });

const NicView = Type.Object({
  label: Type.String(),
  macaddr: Nullable(Type.String()),
  networks: StringMap(Type.String()),
  port: Type.Optional(Nullable(Type.String())),
  switch: Type.Optional(Nullable(Type.String())),
});

// Keys in sorted order: fields are written in schema order, and upstream sorted them.
export const NodeView = Type.Object({
  metadata: StringMap(Type.String()),
  name: Type.String(),
  nics: Type.Array(NicView),
  project: Nullable(Type.String()),
});
