/**
 * The configuration file's shape (TOML, hil.example.toml) and its defaults.
 * Keys say their units as operators write them (`timeout_seconds`,
 * `max_file_mib`); ./settings.ts turns them into what the program uses.
 */
import { Type, type Static } from 'typebox';
import { AuthSection, authDefaults, KeystoneSection, OidcSection } from './auth-schema.ts';
import { HeadnodeSection, HostSwitchSection, VpnSection } from './headnode-schema.ts';
import { literals, Strict } from './schema-kit.ts';

export { AUTH_BACKEND_NAMES, JWT_ALGORITHMS, KEYSTONE_PROJECT_MAPPINGS } from './auth-schema.ts';

/** The values of log.level and log.format (also what their environment variables accept). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;

export const ConfigSchema = Type.Object(
  {
    server: Type.Object(
      {
        listen: Type.String(),
        /** Where the embedded SQLite database lives when no database URL is set. */
        data_dir: Type.String(),
        /** Run the networking worker inside `serve` (false: run `serve-networks`). */
        worker: Type.Boolean(),
        /** On SIGTERM/SIGINT, how long requests in flight may take to finish before their connections are cut. */
        shutdown_grace_seconds: Type.Number({ minimum: 0, maximum: 3600 }),
      },
      Strict,
    ),
    database: Type.Object({ url: Type.Optional(Type.String()) }, Strict),
    auth: AuthSection,
    keystone: KeystoneSection,
    oidc: OidcSection,
    host_switch: HostSwitchSection,
    headnode: HeadnodeSection,
    vpn: VpnSection,
    network: Type.Object(
      {
        /** "hil": networks are networks of the upstream HIL (a derived HIL; set by [upstream]). */
        allocator: Type.Union([Type.Literal('vlan_pool'), Type.Literal('null'), Type.Literal('hil')]),
        /** e.g. "1001-1040" or "14,35-40,100-900" */
        vlans: Type.String(),
      },
      Strict,
    ),
    worker: Type.Object(
      {
        /** A switch call that takes longer than this fails the action. */
        action_timeout_seconds: Type.Number({ exclusiveMinimum: 0, maximum: 3600 }),
        /** Tries per action before it ends ERROR (1 = no retry). */
        max_attempts: Type.Integer({ minimum: 1, maximum: 10 }),
        /** Delay before the first retry; doubles each time. */
        retry_backoff_ms: Type.Integer({ minimum: 0, maximum: 600000 }),
        /** Switches worked on at the same time. */
        switch_concurrency: Type.Integer({ minimum: 1, maximum: 256 }),
        /** Safety-net poll for actions queued by another process (SQLite only wakes by file watch). */
        poll_ms: Type.Integer({ minimum: 10, maximum: 60000 }),
        /** After a round that found several actions, how long a switch's queue may fill before the next (one at a time never waits). */
        batch_linger_ms: Type.Integer({ minimum: 0, maximum: 1000 }),
      },
      Strict,
    ),
    claims: Type.Object(
      {
        /** A claim (a switch, a console, a BMC) its holder stopped renewing passes to another process after this long. */
        ttl_seconds: Type.Number({ minimum: 0.5, maximum: 600 }),
        /** How often a process renews its claims and looks for dead processes (whose claims pass on at once). */
        heartbeat_ms: Type.Integer({ minimum: 50, maximum: 60000 }),
        /** Where other HIL processes reach this API server (console relay); default: from server.listen. */
        advertise_url: Type.Optional(Type.String({ pattern: '^https?://' })),
      },
      Strict,
    ),
    obm: Type.Object(
      {
        /** A BMC or obmd call that takes longer than this fails with OBMError. */
        timeout_seconds: Type.Number({ exclusiveMinimum: 0, maximum: 600 }),
        /** BMC calls in flight at once, over all nodes (each BMC gets one at a time anyway). */
        max_concurrent: Type.Integer({ minimum: 1, maximum: 1024 }),
        /** Extra tries for a repeatable call (status, on, off, boot device) that failed quickly. */
        retries: Type.Integer({ minimum: 0, maximum: 5 }),
        /** Size of each node's rolling console log, in KiB. */
        console_log_kib: Type.Integer({ minimum: 1, maximum: 65536 }),
      },
      Strict,
    ),
    maintenance: Type.Object(
      {
        /** Project that receives nodes leaving any other project. */
        project: Type.Optional(Type.String()),
        /** Notified by POST {"node": label} when a node enters the maintenance project. */
        url: Type.Optional(Type.String()),
      },
      Strict,
    ),
    /** Per-project limits, so that one tenant cannot take what the others need (0: no limit). */
    quotas: Type.Object(
      {
        /** Networks a project may own (each takes a VLAN from the shared pool). */
        networks_per_project: Type.Integer({ minimum: 0, maximum: 1000000 }),
        /** Nodes a project may hold. */
        nodes_per_project: Type.Integer({ minimum: 0, maximum: 1000000 }),
      },
      Strict,
    ),
    /** The image registry (docs/images.md): content-addressed files under <dir>/sha256/. */
    images: Type.Object(
      {
        /** Where image files live; default <data_dir>/blobs. */
        dir: Type.Optional(Type.String()),
        /** The largest file one upload may store, in MiB. */
        max_file_mib: Type.Integer({ minimum: 1, maximum: 1048576 }),
        /** The largest disk image one upload or import may store, in MiB. */
        max_disk_mib: Type.Integer({ minimum: 1, maximum: 16777216 }),
        /** The largest size a disk image may have as a node sees it, in GiB (every clone may grow to it). */
        max_virtual_gib: Type.Integer({ minimum: 1, maximum: 1048576 }),
        /** Where disk images' bases, disks and snapshots live: "local" (qcow2 files) or "rbd" (Ceph). */
        backend: Type.Union([Type.Literal('local'), Type.Literal('rbd')]),
        /** local: where bases, disks and snapshots are kept; default <data_dir>/disks. */
        disks_dir: Type.Optional(Type.String()),
        /** rbd: the pool, the ceph.conf (which names the keyring) and the client id. */
        rbd: Type.Object({ pool: Type.String({ minLength: 1 }), conf: Type.String({ minLength: 1 }), id: Type.String({ minLength: 1 }) }, Strict),
        /** Seconds any one storage operation (clone, snapshot, delete) may take. */
        timeout_seconds: Type.Integer({ minimum: 1, maximum: 86400 }),
      },
      Strict,
    ),
    /** Disks served to the nodes using them (docs/images.md "Exports"): NBD with TLS-PSK, one server per disk. */
    exports: Type.Object(
      {
        /** Whether this process serves exports (with its networking worker). */
        enabled: Type.Boolean(),
        /** The address exports bind to: the storage host's address on the provisioning network. */
        address: Type.String({ minLength: 1 }),
        /** The address nodes connect to, when it differs (NAT, a floating address); default: address. */
        advertise_address: Type.Optional(Type.String({ minLength: 1 })),
        /** The TCP ports exports may use, "first-last". */
        ports: Type.String({ pattern: '^[0-9]{1,5}-[0-9]{1,5}$' }),
        /** Where the export servers keep their sockets and key files; default <data_dir>/exports. */
        run_dir: Type.Optional(Type.String()),
        /** Nodes that boot from their disks (docs/images.md "Booting a node from its disk"); absent: not offered. */
        boot: Type.Optional(
          Type.Object(
            {
              /** IPv4 range cut into /24s, one per project with diskless nodes ("10.130.0.0/16"). */
              subnets: Type.String({ pattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}$' }),
              /** The storage host as a HIL node, and its NIC cabled to a switch port that carries the boot networks tagged. */
              node: Type.String({ minLength: 1 }),
              nic: Type.String({ minLength: 1 }),
              /** That NIC's interface name on the storage host: HIL adds <interface>.<vlan> per boot network (links "ovs": the prefix of its veths). */
              interface: Type.String({ minLength: 1, maxLength: 10, pattern: '^[A-Za-z0-9_-]+$' }),
              /** How the per-network links are made: "vlan" (802.1Q on the NIC) or "ovs" (veths into a local Open vSwitch bridge whose uplink is the NIC). */
              links: Type.Union([Type.Literal('vlan'), Type.Literal('ovs')], { default: 'vlan' }),
              /** links "ovs": the bridge, its ovsdb endpoint, and the namespace ovs-vswitchd runs in if not this one. */
              ovs_bridge: Type.Optional(Type.String({ minLength: 1 })),
              ovsdb: Type.Optional(Type.String({ minLength: 1 })),
              ovs_netns: Type.Optional(Type.String({ minLength: 1 })),
              /** Where the boot networks' HTTP server (iPXE scripts, kernels) listens on each boot address. */
              http_port: Type.Integer({ minimum: 1, maximum: 65535, default: 80 }),
            },
            Strict,
          ),
        ),
      },
      Strict,
    ),
    /** A derived (recursive) HIL: the base HIL it rents its nodes from, as one of the base's projects. */
    upstream: Type.Object(
      {
        endpoint: Type.Optional(Type.String()),
        username: Type.Optional(Type.String()),
        password: Type.Optional(Type.String()),
        /** Instead of username/password, when the base authenticates with OpenID Connect: this HIL's client-credentials grant at the provider. */
        oidc_issuer: Type.Optional(Type.String({ pattern: '^https?://' })),
        oidc_client_id: Type.Optional(Type.String({ minLength: 1 })),
        /** Better in HIL_UPSTREAM_OIDC_CLIENT_SECRET than in the file. */
        oidc_client_secret: Type.Optional(Type.String({ minLength: 1 })),
        /** The resource indicator the provider issues tokens for the base by (usually the base's oidc.audience). */
        oidc_resource: Type.Optional(Type.String({ minLength: 1 })),
        /** The base project whose nodes this HIL hands out. */
        project: Type.Optional(Type.String()),
        /** Keep at least this many free nodes, taking more from the base (0: never grow by itself). */
        min_free: Type.Integer({ minimum: 0, maximum: 10000 }),
        /** Return free nodes above this many to the base when nodes are released (unset: never). */
        max_free: Type.Optional(Type.Integer({ minimum: 0, maximum: 10000 })),
        /** Offer the base's free nodes to this HIL's projects, taken from the base when a project asks for one. */
        on_demand: Type.Boolean(),
        /** How often the API server checks min_free/max_free by itself (0: only after allocations and releases). */
        rebalance_seconds: Type.Integer({ minimum: 0, maximum: 86400 }),
        /** A call to the base that takes longer than this fails. */
        timeout_seconds: Type.Number({ exclusiveMinimum: 0, maximum: 600 }),
      },
      Strict,
    ),
    /** Fast provisioning (docs/fast-provisioning.md): nodes wait in the FPBL and are deployed and reclaimed by kexec. */
    provisioning: Type.Object(
      {
        enabled: Type.Boolean(),
        /** The agent endpoint: "host:port" or "unix:/path". */
        listen: Type.String(),
        /** How nodes reach that endpoint from the provisioning network, e.g. "http://10.128.0.1". */
        url: Type.Optional(Type.String()),
        /** The network every NIC of a node HIL holds is on (admin-owned, no project access). */
        network: Type.Optional(Type.String()),
        /** The FPBL's vmlinuz and initrd.img (hil-admin fpbl build); default <data_dir>/fpbl. */
        fpbl_dir: Type.Optional(Type.String()),
        /** From a power cycle (or a kexec back) to the FPBL reporting in. */
        boot_timeout_seconds: Type.Number({ exclusiveMinimum: 0, maximum: 3600 }),
        /** From "deploy" to the node handed to the tenant's networks. */
        deploy_timeout_seconds: Type.Number({ exclusiveMinimum: 0, maximum: 3600 }),
        /** How long a reclaim waits for the customer OS's return agent before power-cycling into the FPBL. */
        return_timeout_seconds: Type.Number({ exclusiveMinimum: 0, maximum: 3600 }),
        /** From "wipe" to "wiped". */
        wipe_timeout_seconds: Type.Number({ exclusiveMinimum: 0, maximum: 86400 }),
        /** Moving a node's NICs between networks. */
        network_timeout_seconds: Type.Number({ exclusiveMinimum: 0, maximum: 3600 }),
        /** How often deadlines and network moves are checked. */
        tick_ms: Type.Integer({ minimum: 10, maximum: 60000 }),
        /** How much of its project's images (kernels and initrds, newest first) an idle FPBL keeps in RAM, so a deploy needs no download; 0: none. */
        prefetch_mib: Type.Integer({ minimum: 0, maximum: 65536 }),
      },
      Strict,
    ),
    /** GET /metrics (Prometheus text) and where it and the probes are served (docs/operations.md). */
    metrics: Type.Object(
      {
        /** false: /metrics is open, like the probes; true: administrator credentials, through the API's auth backend. */
        require_auth: Type.Boolean(),
        /** "host:port": serve /metrics and the probes on a listener of their own; the API port then serves no /metrics. */
        listen: Type.Optional(Type.String()),
      },
      Strict,
    ),
    log: Type.Object(
      {
        level: literals(LOG_LEVELS),
        /** "json": one JSON object per line; "pretty": for people; "auto": pretty when stdout is a terminal. */
        format: literals(LOG_FORMATS),
      },
      Strict,
    ),
  },
  Strict,
);

export type Config = Static<typeof ConfigSchema>;

export function defaultConfig(): Config {
  return {
    server: { listen: '127.0.0.1:5000', data_dir: '.hil-data', worker: true, shutdown_grace_seconds: 10 },
    database: {},
    images: { max_file_mib: 1024, max_disk_mib: 65536, max_virtual_gib: 2048, backend: 'local', rbd: { pool: 'rbd', conf: '/etc/ceph/ceph.conf', id: 'hil' }, timeout_seconds: 120 },
    exports: { enabled: true, address: '127.0.0.1', ports: '10809-10999' },
    ...authDefaults(),
    network: { allocator: 'vlan_pool', vlans: '1001-1040' },
    worker: { action_timeout_seconds: 30, max_attempts: 2, retry_backoff_ms: 200, switch_concurrency: 16, poll_ms: 1000, batch_linger_ms: 5 },
    claims: { ttl_seconds: 5, heartbeat_ms: 1000 },
    obm: { timeout_seconds: 15, max_concurrent: 16, retries: 1, console_log_kib: 256 },
    maintenance: {},
    quotas: { networks_per_project: 0, nodes_per_project: 0 },
    upstream: { min_free: 0, on_demand: false, rebalance_seconds: 60, timeout_seconds: 30 },
    provisioning: {
      enabled: false,
      listen: '127.0.0.1:5080',
      boot_timeout_seconds: 300,
      deploy_timeout_seconds: 300,
      return_timeout_seconds: 30,
      wipe_timeout_seconds: 1800,
      network_timeout_seconds: 120,
      tick_ms: 100,
      prefetch_mib: 64,
    },
    metrics: { require_auth: false },
    log: { level: 'info', format: 'auto' },
  };
}
