/**
 * Which units of src/ may import which (checked by ./checker.ts, run as
 * `npm run check:architecture` and by ./architecture.test.ts).
 *
 * A unit is the first folder under src/ (src/core/node.service.ts is `core`),
 * or, for a file directly in src/, its name without `.ts` (src/errors.ts is
 * `errors`). A unit may always import from itself. A unit that is missing
 * here is a violation wherever it appears, so a new folder gets a place (and a
 * line saying what it is) on purpose. Package imports are not checked.
 *
 * Each entry is either the list of units it may import, or
 * `{ everyUnitExcept: [...] }` for the units at the top that wire everything.
 */
export type Allowed = readonly string[] | { readonly everyUnitExcept: readonly string[] };
export type LayerTable = Readonly<Record<string, Allowed>>;

export const LAYERS: LayerTable = {
  // The error catalog, a leaf.
  errors: [],
  // The version string, a leaf.
  version: [],
  // Small helpers: keyed serialisation, coalesced wake-ups, timeouts, logging.
  util: ['errors'],
  // The /v0 wire contract: TypeBox schemas the api validates with; the client package's types are generated from them.
  wire: [],
  // The database: SQLite or PostgreSQL, schema, migrations, precompiled reads.
  store: ['errors', 'util'],
  // Prometheus metrics: the process-wide helpers every layer may move, and each HIL's registry.
  metrics: ['store'],
  // The typed client: a re-export of the hil-client package (packages/hil-client), which depends on nothing,
  // and where its tokens come from (token-sources.ts: Keystone, an OpenID provider), which checks URLs as config does.
  client: ['util'],
  // Switch, BMC, allocator, auth and HIL drivers; see also the driver-kind rule.
  drivers: ['store', 'client', 'wire', 'errors', 'util', 'metrics'],
  // Building initramfs images (cpio and friends).
  initramfs: ['errors', 'util'],
  // Reading and validating the configuration file.
  config: ['drivers', 'errors', 'util'],
  // Which process may act on a resource: claims, their generations, process liveness.
  claims: ['store', 'errors', 'util', 'metrics'],
  // The networking journal's worker and its wake-ups.
  network: ['claims', 'drivers', 'store', 'errors', 'util', 'metrics'],
  // The use-cases and authorization.
  core: ['claims', 'drivers', 'store', 'errors', 'util', 'metrics'],
  // The image registry and its blob store.
  images: ['core', 'drivers', 'store', 'errors', 'util', 'metrics'],
  // Disks: copy-on-write clones of disk images, their attachment to nodes and snapshots.
  disks: ['images', 'core', 'claims', 'drivers', 'store', 'errors', 'util'],
  // Serving disks to nodes (NBD servers) and the storage work a disk's claim holder does;
  // the boot networks' host side (it queues the storage NIC's networking actions: core).
  exports: ['disks', 'images', 'core', 'claims', 'drivers', 'store', 'errors', 'util', 'metrics'],
  // Fast provisioning: the state machine and the nodes' agent endpoint.
  // (and a deploy of a disk image: the node's boot disk, its netroot words).
  provisioning: ['core', 'claims', 'images', 'disks', 'drivers', 'store', 'errors', 'util', 'metrics'],
  // The fast-provisioning boot loader images and the agent scripts.
  fpbl: ['initramfs', 'errors', 'util'],
  // Tenants' VPN access: WireGuard endpoints in per-network namespaces on the host switch, their use-cases and keeper.
  vpn: ['core', 'claims', 'config', 'store', 'errors', 'util'],
  // Headnodes: tenants' VMs (QEMU) on their networks, their base image and first-boot seed, use-cases and keeper.
  headnodes: ['core', 'claims', 'config', 'store', 'errors', 'util', 'initramfs', 'fpbl'],
  // The HTTP API (Fastify routes over the use-cases).
  api: ['core', 'images', 'disks', 'provisioning', 'headnodes', 'vpn', 'drivers', 'wire', 'errors', 'util', 'version', 'metrics'],
  // Wires one HIL together from its configuration.
  assembly: { everyUnitExcept: ['cli', 'lab'] },
  // The development lab: QEMU nodes, simulated BMCs, OVS (development only).
  lab: ['initramfs', 'client', 'wire', 'drivers', 'errors', 'util', 'version'],
  // The command-line programs, at the very top.
  cli: { everyUnitExcept: [] },
};
