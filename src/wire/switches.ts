/** Switches, their ports and the cabling: /v0/switch/<switch>, and network verification. */
import { Type } from 'typebox';
import { Args, StringMap } from './common.ts';
import { fieldsByType, type DriverFields } from './driver-fields.ts';

/**
 * A switch type (its upstream type URL, or the short name) and its fields.
 * Any fields pass here: the switch driver checks its own (and names the bad
 * one); /openapi.json lists each type's.
 */
export const RegisterSwitchBody = Type.Object({ type: Type.String() }, { additionalProperties: true });

/** RegisterSwitchBody as /openapi.json shows it: the fields of every switch type. */
export const documentedRegisterSwitchBody = (switchTypes: readonly DriverFields[]) =>
  fieldsByType(switchTypes, 'A switch type (its URL, or the URL\'s last segment: "mock") and its fields');

export const ConnectNicBody = Args({ node: Type.String(), nic: Type.String() });

export const VerifyQuery = Args({ switch: Type.Optional(Type.String()) });

export const VerifyBody = Args({ switch: Type.Optional(Type.String()), fix: Type.Optional(Type.Boolean()) });

// Keys in sorted order, as upstream's json.dumps(sort_keys=True).
export const SwitchView = Type.Object({
  capabilities: Type.Array(Type.String()),
  /** An extension of upstream: the SSH host key HIL trusts for a CLI switch (pinned, or recorded on first use). */
  host_key: Type.Optional(Type.String({ description: 'The SSH host key fingerprint HIL trusts for this switch ("SHA256:…"): pinned at registration, or recorded at the first connection. Absent for switches without SSH, or before the first connection.' })),
  name: Type.String(),
  ports: Type.Array(Type.Object({ label: Type.String() })),
});

export const PortView = Type.Object({
  networks: Type.Optional(StringMap(Type.String())),
  nic: Type.Optional(Type.String()),
  node: Type.Optional(Type.String()),
});

const PortStateMap = StringMap(Type.String());
export const VerifyReport = Type.Object({
  switches: Type.Array(Type.String()),
  checked: Type.Integer(),
  pending: Type.Array(Type.String()),
  differences: Type.Array(
    Type.Object({
      switch: Type.String(),
      port: Type.String(),
      expected: PortStateMap,
      actual: PortStateMap,
      fixed: Type.Optional(Type.Boolean()),
    }),
  ),
  unreachable: Type.Array(Type.String()),
});
