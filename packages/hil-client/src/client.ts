/**
 * A typed client for the /v0 API: one method per route, grouped as upstream's
 * client library was (node, project, network, switch, port, user, …). The
 * request and response types come from the wire contract (src/wire/), the
 * schemas the server validates and serialises with, generated into ./types.ts.
 * It uses only what Node.js ≥ 20 and browsers both have (fetch, web streams).
 */
import type { Attachments, BootDisk, Disk, DiskAttachment, DiskSnapshot, Headnode, Image, ImageFile, ImagePart, Network, NetworkingAction, Networks, Node, ObmdFields, ObmFields, Port, PowerStatus, Provisioning, StatusId, Switch, Users, VerifyReport, Vpn, VpnCreated } from './types.ts';
import { HilApiError, HttpClient, type ClientOptions } from './http.ts';
import { openInteractiveConsole, type InteractiveConsole } from './console.ts';

export type * from './types.ts';

/** A downloading image file: its SHA-256 and size (from the headers), and the bytes. */
export type ImageDownload = ImageFile & { body: ReadableStream<Uint8Array> };

/** How a node's BMC is reached: an external obmd (upstream) or a built-in driver and its fields. */
export type NodeObm = { obmd: ObmdFields } | { obm: ObmFields };

export interface WaitOptions {
  timeoutMs?: number;
  /** Called on every poll while the action is PENDING. */
  onPoll?: (action: NetworkingAction, elapsedMs: number) => void;
}

export class HilClient {
  readonly http: HttpClient;

  constructor(options: ClientOptions) {
    this.http = new HttpClient(options);
  }

  readonly node = {
    list: (which: 'free' | 'all') => this.http.call<string[]>('GET', ['nodes', which]),
    show: (node: string) => this.http.call<Node>('GET', ['node', node]),
    register: (node: string, obm: NodeObm, metadata?: Record<string, unknown>) =>
      this.http.call<void>('PUT', ['node', node], metadata === undefined ? obm : { ...obm, metadata }),
    delete: (node: string) => this.http.call<void>('DELETE', ['node', node]),
    addNic: (node: string, nic: string, macaddr: string) => this.http.call<void>('PUT', ['node', node, 'nic', nic], { macaddr }),
    removeNic: (node: string, nic: string) => this.http.call<void>('DELETE', ['node', node, 'nic', nic]),
    setMetadata: (node: string, label: string, value: unknown) => this.http.call<void>('PUT', ['node', node, 'metadata', label], { value }),
    deleteMetadata: (node: string, label: string) => this.http.call<void>('DELETE', ['node', node, 'metadata', label]),
    connectNetwork: (node: string, nic: string, network: string, channel?: string | null) =>
      this.http.call<StatusId>('POST', ['node', node, 'nic', nic, 'connect_network'], channel ? { network, channel } : { network }),
    detachNetwork: (node: string, nic: string, network: string) => this.http.call<StatusId>('POST', ['node', node, 'nic', nic, 'detach_network'], { network }),
    setObm: (node: string, enabled: boolean) => this.http.call<void>('PUT', ['node', node, 'obm'], { enabled }),
    enableObm: (node: string) => this.node.setObm(node, true),
    disableObm: (node: string) => this.node.setObm(node, false),
    powerOn: (node: string) => this.http.call<void>('POST', ['node', node, 'power_on']),
    powerOff: (node: string) => this.http.call<void>('POST', ['node', node, 'power_off']),
    powerCycle: (node: string, force = false) => this.http.call<void>('POST', ['node', node, 'power_cycle'], { force }),
    powerStatus: (node: string) => this.http.call<PowerStatus>('GET', ['node', node, 'power_status']),
    /** The node boots from `disk` (of its project), over the project's boot network, through `nic` (default: its first); not in upstream. */
    bootDiskSet: (node: string, disk: string, o: { nic?: string } = {}) => this.http.call<BootDisk>('POST', ['node', node, 'boot_disk'], { disk, ...o }),
    bootDiskShow: (node: string) => this.http.call<BootDisk>('GET', ['node', node, 'boot_disk']),
    bootDiskClear: (node: string) => this.http.call<void>('DELETE', ['node', node, 'boot_disk']),
    /** persistent false: the next boot only (not in upstream). */
    setBootdev: (node: string, bootdev: string, persistent?: boolean) =>
      this.http.call<void>('PUT', ['node', node, 'boot_device'], persistent === undefined ? { bootdev } : { bootdev, persistent }),
    /** Fast provisioning (not in upstream): boot `image` by kexec from the node's FPBL, its NICs moved to `networks` ({nic: network}) first; `disk`: with its root filesystem on that disk. */
    deploy: (node: string, image: string, networks?: Record<string, string>, o: { disk?: string } = {}) =>
      this.http.call<Provisioning>('POST', ['node', node, 'deploy'], { image, ...(networks && { networks }), ...(o.disk !== undefined && { disk: o.disk }) }),
    /** Back into the FPBL, disks wiped (kexec when the node's OS cooperates, else power cycle); enrolls a new node. */
    reclaim: (node: string, o: { powerCycle?: boolean; keepDisk?: boolean } = {}) =>
      this.http.call<Provisioning>('POST', ['node', node, 'reclaim'], reclaimBody(o)),
    provisioning: (node: string) => this.http.call<Provisioning>('GET', ['node', node, 'provisioning']),
    /** Polls the provisioning state until it is one of `states` (or error); throws on timeout. */
    waitProvisioning: async (node: string, states: string[], o: { timeoutMs?: number; intervalMs?: number; onPoll?: (p: Provisioning) => void } = {}): Promise<Provisioning> => {
      const deadline = Date.now() + (o.timeoutMs ?? 600_000);
      for (;;) {
        const p = await this.node.provisioning(node);
        o.onPoll?.(p);
        if (states.includes(p.state) || p.state === 'error') return p;
        if (Date.now() > deadline) throw new HilApiError('TimeoutError', `node ${node} is still ${p.state} (${p.phase}) after ${o.timeoutMs ?? 600_000} ms`, 0);
        await new Promise((r) => setTimeout(r, o.intervalMs ?? 250));
      }
    },
    /** The rolling console log (bytes), from the node's time in the caller's project. */
    consoleLog: async (node: string): Promise<Uint8Array> => new Uint8Array(await (await this.http.send('GET', ['node', node, 'console_log'])).arrayBuffer()),
    /** The serial console as a byte stream, until `signal` aborts or the server ends it. */
    console: async (node: string, signal?: AbortSignal): Promise<AsyncIterable<Uint8Array>> => {
      const res = await this.http.send('GET', ['node', node, 'console'], { signal });
      return res.body ?? emptyStream();
    },
    /** The console with input: output, and what is written typed into the node's serial line (Node.js ≥ 22: its WebSocket sends the credentials). */
    openConsole: (node: string, signal?: AbortSignal): Promise<InteractiveConsole> => openInteractiveConsole(this.http, node, signal),
  };

  readonly project = {
    list: () => this.http.call<string[]>('GET', ['projects']),
    create: (project: string) => this.http.call<void>('PUT', ['project', project]),
    delete: (project: string) => this.http.call<void>('DELETE', ['project', project]),
    nodes: (project: string) => this.http.call<string[]>('GET', ['project', project, 'nodes']),
    networks: (project: string) => this.http.call<string[]>('GET', ['project', project, 'networks']),
    connectNode: (project: string, node: string) => this.http.call<void>('POST', ['project', project, 'connect_node'], { node }),
    /** Any free node that waits ready in its FPBL (not in upstream); answers its name. */
    connectReadyNode: (project: string) => this.http.call<{ node: string }>('POST', ['project', project, 'connect_node'], { ready: true }),
    detachNode: (project: string, node: string) => this.http.call<void>('POST', ['project', project, 'detach_node'], { node }),
    disks: (project: string) => this.http.call<string[]>('GET', ['project', project, 'disks']),
    headnodes: (project: string) => this.http.call<string[]>('GET', ['project', project, 'headnodes']),
  };

  /** A project's own VMs on its networks (upstream's headnodes; docs/headnodes.md). */
  readonly headnode = {
    images: () => this.http.call<string[]>('GET', ['headnode_images', '']),
    create: (headnode: string, project: string, baseImg: string, o: { sshKeys?: string[] } = {}) =>
      this.http.call<void>('PUT', ['headnode', headnode], { project, base_img: baseImg, ...(o.sshKeys && { ssh_keys: o.sshKeys }) }),
    delete: (headnode: string) => this.http.call<void>('DELETE', ['headnode', headnode]),
    show: (headnode: string) => this.http.call<Headnode>('GET', ['headnode', headnode]),
    start: (headnode: string) => this.http.call<void>('POST', ['headnode', headnode, 'start']),
    stop: (headnode: string) => this.http.call<void>('POST', ['headnode', headnode, 'stop']),
    powerCycle: (headnode: string) => this.http.call<void>('POST', ['headnode', headnode, 'power_cycle']),
    powerStatus: (headnode: string) => this.http.call<PowerStatus>('GET', ['headnode', headnode, 'power_status']),
    createNic: (headnode: string, hnic: string, o: { address?: string } = {}) => this.http.call<void>('PUT', ['headnode', headnode, 'hnic', hnic], o.address === undefined ? undefined : { address: o.address }),
    deleteNic: (headnode: string, hnic: string) => this.http.call<void>('DELETE', ['headnode', headnode, 'hnic', hnic]),
    connectNetwork: (headnode: string, hnic: string, network: string) => this.http.call<void>('POST', ['headnode', headnode, 'hnic', hnic, 'connect_network'], { network }),
    detachNetwork: (headnode: string, hnic: string) => this.http.call<void>('POST', ['headnode', headnode, 'hnic', hnic, 'detach_network']),
    consoleLog: async (headnode: string): Promise<Uint8Array> => new Uint8Array(await (await this.http.send('GET', ['headnode', headnode, 'console_log'])).arrayBuffer()),
    /** What the serial console prints from now on, until `signal` aborts. */
    console: async (headnode: string, signal?: AbortSignal): Promise<AsyncIterable<Uint8Array>> => {
      const res = await this.http.send('GET', ['headnode', headnode, 'console'], { signal });
      return res.body ?? emptyStream();
    },
    openConsole: (headnode: string, signal?: AbortSignal): Promise<InteractiveConsole> => openInteractiveConsole(this.http, headnode, signal, 'headnode'),
  };

  /** WireGuard access to a project network (not in upstream). */
  readonly vpn = {
    create: (vpn: string, network: string, o: { project?: string; publicKey?: string; address?: string } = {}) =>
      this.http.call<VpnCreated>('PUT', ['vpn', vpn], { network, ...(o.project && { project: o.project }), ...(o.publicKey && { public_key: o.publicKey }), ...(o.address && { address: o.address }) }),
    delete: (vpn: string) => this.http.call<void>('DELETE', ['vpn', vpn]),
    show: (vpn: string) => this.http.call<Vpn>('GET', ['vpn', vpn]),
    list: (network: string) => this.http.call<string[]>('GET', ['network', network, 'vpns']),
  };

  readonly network = {
    list: () => this.http.call<Networks>('GET', ['networks']),
    show: (network: string) => this.http.call<Network>('GET', ['network', network]),
    /** owner: a project or "admin"; access: a project or "" (public); netId: "" to allocate. */
    create: (network: string, owner: string, access: string, netId: string) =>
      this.http.call<void>('PUT', ['network', network], { owner, access, net_id: netId }),
    delete: (network: string) => this.http.call<void>('DELETE', ['network', network]),
    attachments: (network: string, project?: string) => this.http.call<Attachments>('GET', ['network', network, 'attachments'], undefined, { project }),
    grantAccess: (network: string, project: string) => this.http.call<void>('PUT', ['network', network, 'access', project]),
    revokeAccess: (network: string, project: string) => this.http.call<void>('DELETE', ['network', network, 'access', project]),
  };

  readonly switch = {
    list: () => this.http.call<string[]>('GET', ['switches']),
    show: (sw: string) => this.http.call<Switch>('GET', ['switch', sw]),
    /** type: a driver type URL or its short name ("mock"); fields: the driver's own. */
    register: (sw: string, type: string, fields: Record<string, unknown>) => this.http.call<void>('PUT', ['switch', sw], { ...fields, type }),
    delete: (sw: string) => this.http.call<void>('DELETE', ['switch', sw]),
    /** Admins: every port's configuration on the switch (or on one switch) against the database (not in upstream). */
    verify: (o: { switch?: string } = {}) => this.http.call<VerifyReport>('GET', ['verify_networks'], undefined, { switch: o.switch }),
    /** Admins: the same comparison, repairing the ports that differ. */
    fix: (o: { switch?: string } = {}) => this.http.call<VerifyReport>('POST', ['verify_networks'], { ...o, fix: true }),
  };

  readonly port = {
    register: (sw: string, port: string) => this.http.call<void>('PUT', ['switch', sw, 'port', port]),
    delete: (sw: string, port: string) => this.http.call<void>('DELETE', ['switch', sw, 'port', port]),
    show: (sw: string, port: string) => this.http.call<Port>('GET', ['switch', sw, 'port', port]),
    connectNic: (sw: string, port: string, node: string, nic: string) => this.http.call<void>('POST', ['switch', sw, 'port', port, 'connect_nic'], { node, nic }),
    detachNic: (sw: string, port: string) => this.http.call<void>('POST', ['switch', sw, 'port', port, 'detach_nic']),
    revert: (sw: string, port: string) => this.http.call<StatusId>('POST', ['switch', sw, 'port', port, 'revert']),
  };

  readonly user = {
    list: () => this.http.call<Users>('GET', ['auth', 'basic', 'users']),
    create: (user: string, password: string, isAdmin: boolean) => this.http.call<void>('PUT', ['auth', 'basic', 'user', user], { password, is_admin: isAdmin }),
    delete: (user: string) => this.http.call<void>('DELETE', ['auth', 'basic', 'user', user]),
    addProject: (user: string, project: string) => this.http.call<void>('POST', ['auth', 'basic', 'user', user, 'add_project'], { project }),
    removeProject: (user: string, project: string) => this.http.call<void>('POST', ['auth', 'basic', 'user', user, 'remove_project'], { project }),
    setAdmin: (user: string, isAdmin: boolean) => this.http.call<void>('PATCH', ['auth', 'basic', 'user', user], { is_admin: isAdmin }),
  };

  /** The keystone backend's project table: Keystone project id → HIL project (not in upstream; docs/auth.md). */
  readonly keystoneProject = {
    list: () => this.http.call<Record<string, string>>('GET', ['auth', 'keystone', 'projects']),
    map: (keystoneProjectId: string, project: string) => this.http.call<void>('PUT', ['auth', 'keystone', 'project', keystoneProjectId], { project }),
    unmap: (keystoneProjectId: string) => this.http.call<void>('DELETE', ['auth', 'keystone', 'project', keystoneProjectId]),
  };

  /** The image registry (not in upstream; docs/images.md). */
  readonly image = {
    list: () => this.http.call<string[]>('GET', ['images']),
    show: (image: string) => this.http.call<Image>('GET', ['image', image]),
    /** project: one of yours, or "admin"/absent for an admin-owned image; public (admins only); cmdline: one line; format: kexec (default), qcow2 or raw. */
    create: (image: string, o: { project?: string; public?: boolean; cmdline?: string; format?: 'kexec' | 'qcow2' | 'raw' } = {}) =>
      this.http.call<void>('PUT', ['image', image], o),
    /** Admins: a file on the server becomes the image's disk. */
    importDisk: (image: string, path: string) => this.http.call<ImageFile>('POST', ['image', image, 'disk', 'import'], { path }),
    delete: (image: string) => this.http.call<void>('DELETE', ['image', image]),
    /**
     * Uploads (or replaces) a part; a stream is sent as it is read (from a Node.js file: `Readable.toWeb(createReadStream(path))`).
     * `length`: the stream's size, if known. Answers the stored file's SHA-256 and size.
     */
    upload: async (image: string, part: ImagePart, data: Uint8Array | ReadableStream<Uint8Array>, o: { length?: number; signal?: AbortSignal } = {}): Promise<ImageFile> => {
      const length = data instanceof Uint8Array ? data.byteLength : o.length;
      const res = await this.http.send('PUT', ['image', image, part], { raw: { body: data, contentType: 'application/octet-stream', length }, signal: o.signal });
      return (await res.json()) as ImageFile;
    },
    /** Streams a part; check the bytes against `sha256` if they matter. */
    download: async (image: string, part: ImagePart, signal?: AbortSignal): Promise<ImageDownload> => {
      const res = await this.http.send('GET', ['image', image, part], { signal });
      return {
        sha256: res.headers.get('x-hil-sha256') ?? '',
        size: Number(res.headers.get('content-length') ?? NaN),
        body: res.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() }),
      };
    },
  };

  /** Disks: copy-on-write clones of disk images, exported to the node using them (not in upstream; docs/images.md). */
  readonly disk = {
    create: (disk: string, image: string, project: string) => this.http.call<void>('PUT', ['disk', disk], { image, project }),
    show: (disk: string) => this.http.call<Disk>('GET', ['disk', disk]),
    delete: (disk: string) => this.http.call<void>('DELETE', ['disk', disk]),
    /** The disks you can see (your projects'; admins: all), or one project's. */
    list: (project?: string) => (project === undefined ? this.http.call<string[]>('GET', ['disks']) : this.project.disks(project)),
    /** Exports the disk to `node` (NBD with TLS-PSK, or iSCSI with CHAP to `initiator`); the answer holds the node's key, given only here. */
    attach: (disk: string, node: string, o: { protocol?: 'nbd' | 'iscsi'; initiator?: string } = {}) =>
      this.http.call<DiskAttachment>('POST', ['disk', disk, 'attach'], { node, ...o }),
    detach: (disk: string) => this.http.call<void>('POST', ['disk', disk, 'detach']),
    /** The disk's content becomes image `image` (pending until taken: watch image.show). */
    snapshot: (disk: string, image: string) => this.http.call<DiskSnapshot>('POST', ['disk', disk, 'snapshot'], { image }),
  };

  readonly networkingAction = {
    show: (statusId: string) => this.http.call<NetworkingAction>('GET', ['networking_action', statusId]),
  };

  /** The server's version and runtime (GET /version, outside the /v0 API). */
  async serverVersion(): Promise<{ version: string; node: string }> {
    const res = await this.http.send('GET', ['version'], { api: false, signal: AbortSignal.timeout(10_000) });
    return (await res.json()) as { version: string; node: string };
  }

  readonly extensions = {
    list: () => this.http.call<string[]>('GET', ['active_extensions']),
  };

  /**
   * Polls a networking action until it is DONE or ERROR (then returns it).
   * Throws HilApiError "TimeoutError" if it is still PENDING after timeoutMs.
   */
  async waitForAction(statusId: string, o: WaitOptions = {}): Promise<NetworkingAction> {
    const timeoutMs = o.timeoutMs ?? 60_000;
    const started = Date.now();
    let delay = 5;
    for (;;) {
      const action = await this.networkingAction.show(statusId);
      const elapsed = Date.now() - started;
      if (action.status !== 'PENDING') return action;
      if (elapsed >= timeoutMs) throw new HilApiError('TimeoutError', `networking action ${statusId} still PENDING after ${timeoutMs} ms`, 0);
      o.onPoll?.(action, elapsed);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 500); // quick actions return in milliseconds; slow switches are not hammered
    }
  }
}

async function* emptyStream(): AsyncIterable<Uint8Array> {}

/** The reclaim's body: only the flags set, and none at all when none is (as upstream-era clients send). */
function reclaimBody(o: { powerCycle?: boolean; keepDisk?: boolean }): Record<string, boolean> | undefined {
  const body = { ...(o.powerCycle && { power_cycle: true }), ...(o.keepDisk && { keep_disk: true }) };
  return Object.keys(body).length ? body : undefined;
}
