/** Networks and which projects may use them: /v0/network/<network>. */
import { Type } from 'typebox';
import { Args, Nullable, StringMap } from './common.ts';

/** owner: a project or "admin"; access: a project, or "" for public; net_id: "" to allocate. */
export const CreateNetworkBody = Args({ owner: Type.String(), access: Type.String(), net_id: Type.String() });

export const AttachmentsQuery = Args({ project: Type.Optional(Type.String()) });

// Keys in sorted order, as upstream's json.dumps(sort_keys=True).
export const NetworkView = Type.Object({
  access: Nullable(Type.Array(Type.String())),
  channels: Type.Array(Type.String()),
  'connected-nodes': StringMap(Type.Array(Type.String())),
  name: Type.String(),
  owner: Type.String({ description: 'a project, or "admin"' }),
});

export const NetworkList = StringMap(Type.Object({ network_id: Type.String(), projects: Nullable(Type.Array(Type.String())) }));

export const AttachmentList = StringMap(Type.Object({ nic: Type.String(), channel: Type.String(), project: Type.String() }));
