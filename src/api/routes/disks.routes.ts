/** Disks (docs/images.md; not in upstream): copy-on-write clones of disk images, exported to the node using them, and their snapshots. */
import { Type } from 'typebox';
import type { FastifyInstance } from 'fastify';
import { route } from '../route.ts';
import { NoArgs, Path } from '../../wire/common.ts';
import { AttachDiskBody, AttachView, BootDiskBody, BootDiskView, CreateDiskBody, DiskList, DiskView, SnapshotDiskBody, SnapshotView } from '../../wire/disks.ts';
import type { Services } from '../services.ts';

export function diskRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['disks'];
  const disk = Path('disk');
  route(
    app,
    {
      method: 'PUT',
      url: '/v0/disk/:disk',
      operationId: 'diskCreate',
      summary: 'Create a disk: a writable copy-on-write clone of a disk image (the project\'s own or a public one), owned by "project". Made in O(1), whatever the image\'s size.',
      tags,
      params: disk,
      body: CreateDiskBody,
    },
    (req) => s.disks.create(req.principal, req.params.disk, req.body),
  );
  route(
    app,
    { method: 'GET', url: '/v0/disk/:disk', operationId: 'diskShow', summary: 'Show a disk: its project, image, size, the node using it and its export (without the key).', tags, params: disk, response: { 200: DiskView } },
    (req) => s.disks.show(req.principal, req.params.disk),
  );
  route(
    app,
    { method: 'DELETE', url: '/v0/disk/:disk', operationId: 'diskDelete', summary: 'Delete a disk no node uses and no snapshot still depends on.', tags, params: disk, body: NoArgs },
    (req) => s.disks.delete(req.principal, req.params.disk),
  );
  route(
    app,
    { method: 'GET', url: '/v0/disks', operationId: 'diskList', summary: "Names of the disks the caller can see: its projects' (admins: all).", tags, response: { 200: DiskList } },
    (req) => s.disks.list(req.principal),
  );
  route(
    app,
    { method: 'GET', url: '/v0/project/:project/disks', operationId: 'projectDisks', summary: "Names of a project's disks.", tags, params: Type.Object({ project: Type.String() }), response: { 200: DiskList } },
    (req) => s.disks.listProject(req.principal, req.params.project),
  );
  route(
    app,
    {
      method: 'POST',
      url: '/v0/disk/:disk/attach',
      operationId: 'diskAttach',
      summary:
        "Give the disk to a node of its project: it is exported to that node alone, over NBD with TLS-PSK (the default) or iSCSI with CHAP (\"protocol\": \"iscsi\", \"initiator\": the node's initiator name). Answers where to connect and the node's key, once. 409 while another node uses the disk.",
      tags,
      params: disk,
      body: AttachDiskBody,
      response: { 200: AttachView },
    },
    (req) => s.disks.attach(req.principal, req.params.disk, req.body.node, { protocol: req.body.protocol, initiator: req.body.initiator }),
  );
  route(
    app,
    { method: 'POST', url: '/v0/disk/:disk/detach', operationId: 'diskDetach', summary: 'The node lets the disk go; its export stops.', tags, params: disk, body: NoArgs },
    (req) => s.disks.detach(req.principal, req.params.disk),
  );
  route(
    app,
    {
      method: 'POST',
      url: '/v0/disk/:disk/snapshot',
      operationId: 'diskSnapshot',
      summary: "The disk's current content becomes a new image of its project, without a copy and without stopping the disk; pending until taken (GET /v0/image/<image>).",
      tags,
      params: disk,
      body: SnapshotDiskBody,
      response: { 200: SnapshotView },
    },
    (req) => s.disks.snapshot(req.principal, req.params.disk, req.body.image),
  );
  bootDiskRoutes(app, s);
}

/** A node that boots from a disk of its project, over its project's boot network (docs/images.md). */
function bootDiskRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['disks'];
  const node = Path('node');
  route(
    app,
    {
      method: 'POST',
      url: '/v0/node/:node/boot_disk',
      operationId: 'nodeBootDiskSet',
      summary:
        "The node boots from the disk: it is exported to the node over iSCSI on the project's boot network, the NIC goes on that network natively, and the node's DHCP answer and iPXE script are ready there. Then set boot device pxe and power-cycle.",
      tags,
      params: node,
      body: BootDiskBody,
      response: { 200: BootDiskView },
    },
    (req) => s.bootDisks.set(req.principal, req.params.node, req.body),
  );
  route(
    app,
    { method: 'GET', url: '/v0/node/:node/boot_disk', operationId: 'nodeBootDiskShow', summary: 'The disk the node boots from, its address and the export (without the key); 404 when none.', tags, params: node, response: { 200: BootDiskView } },
    (req) => s.bootDisks.show(req.principal, req.params.node),
  );
  route(
    app,
    { method: 'DELETE', url: '/v0/node/:node/boot_disk', operationId: 'nodeBootDiskClear', summary: 'The node boots from no disk: the export stops and the NIC leaves the boot network. The disk stays.', tags, params: node, body: NoArgs },
    (req) => s.bootDisks.clear(req.principal, req.params.node),
  );
}
