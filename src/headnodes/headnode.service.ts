/**
 * Headnodes (spec §5.6, docs/headnodes.md): a project's own VM on its
 * networks. The calls change rows only; the process that holds a
 * headnode's claim makes its VM match them (./keeper.ts), so a start, a
 * stop or a network change survives a crash of either side and is done
 * exactly once. Upstream's freeze after the first start is gone: a
 * stopped headnode may be changed and started again; hnics are added or
 * removed while it is stopped, and moved between networks at any time.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { BadArgumentError, BlockedError, IllegalStateError, NotFoundError } from '../errors.ts';
import { inTx, type CoreDeps, type Tx } from '../core/context.ts';
import { absentOrConflict, getNetwork, getProject, held, insertUnique, type Lock } from '../core/lookup.ts';
import { requireProjectAccess, type Principal } from '../core/principal.ts';
import { Service } from '../core/service.ts';
import type { HeadnodeRow } from '../store/schema.ts';
import { requireCidr, requireUsableNetwork } from '../core/tenant-networks.ts';
import { headnodeView, type HeadnodeView } from './views.ts';
import { followLog, logTail, openSerial } from './console.ts';
import { consoleLogPath, consoleSocketPath, vmDir } from './paths.ts';

export interface HeadnodeOptions {
  /** `[headnode] base_imgs`; empty when headnodes are not configured. */
  baseImages: string[];
  /** `[headnode] run_dir`: where each headnode's console log and socket are. */
  runDir: string;
  /** How much of a console log a reader gets (`[obm] console_log_kib`). */
  consoleLogBytes: number;
  perProject?: number;
  /** A headnode's wanted state changed: its holder should look now. */
  changed(): void;
}

const SSH_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/=]{16,8192}( [^\n\r]{0,200})?$/;

export async function getHeadnode(tx: Tx, label: string, lock?: Lock): Promise<HeadnodeRow> {
  const row = await held(tx, tx.selectFrom('headnode').selectAll().where('label', '=', label), lock).executeTakeFirst();
  if (!row) throw new NotFoundError(`Headnode "${label}" does not exist.`);
  return row;
}

export class HeadnodeService extends Service {
  readonly #o: HeadnodeOptions;

  constructor(deps: CoreDeps, o: HeadnodeOptions) {
    super(deps);
    this.#o = o;
  }

  images(): string[] {
    return this.#o.baseImages;
  }

  async create(p: Principal, label: string, body: { project: string; base_img: string; ssh_keys?: string[] }): Promise<void> {
    if (!this.#o.baseImages.includes(body.base_img)) throw new BadArgumentError('Provided image is not a valid image.');
    const keys = body.ssh_keys ?? [];
    for (const k of keys) if (!SSH_KEY.test(k.trim())) throw new BadArgumentError('ssh_keys: each must be one OpenSSH public key line ("ssh-ed25519 AAAA… comment")');
    await inTx(this.deps, async (tx) => {
      await absentOrConflict(tx.selectFrom('headnode').select('id').where('label', '=', label).executeTakeFirst(), `Headnode "${label}" already exists.`);
      const project = await getProject(tx, body.project, 'update');
      requireProjectAccess(p, project.id);
      const limit = this.#o.perProject;
      if (limit !== undefined) {
        const { n } = await tx.selectFrom('headnode').select((eb) => eb.fn.countAll<number>().as('n')).where('project_id', '=', project.id).executeTakeFirstOrThrow();
        if (Number(n) >= limit) throw new BlockedError(`Project ${project.label} has ${limit} headnodes, its limit ([headnode] per_project).`);
      }
      await insertUnique(
        tx.insertInto('headnode').values({ label, project_id: project.id, base_img: body.base_img, uuid: randomUUID(), ssh_keys: JSON.stringify(keys.map((k) => k.trim())), created_at: Date.now() }).execute(),
        `Headnode "${label}" already exists.`,
      );
    });
  }

  async delete(p: Principal, label: string): Promise<void> {
    await inTx(this.deps, async (tx) => {
      const hn = await this.#owned(tx, p, label);
      await tx.deleteFrom('hnic').where('headnode_id', '=', hn.id).execute();
      await tx.deleteFrom('headnode').where('id', '=', hn.id).execute();
    });
    // Its holder ends the VM and removes its files once it sees the row gone.
    this.#o.changed();
  }

  async show(p: Principal, label: string): Promise<HeadnodeView> {
    return headnodeView(this.deps.db, await this.#visible(label, p));
  }

  /** Asks for the VM to run; `reset`: restart it if it already does (power_cycle). */
  async start(p: Principal, label: string, o: { reset?: boolean } = {}): Promise<void> {
    await inTx(this.deps, async (tx) => {
      const hn = await this.#owned(tx, p, label);
      const resets = o.reset && hn.power === 'on' ? hn.resets + 1 : hn.resets;
      // A start after a failed one tries again (the keeper leaves a failed VM alone until asked).
      const again = hn.power === 'off' || hn.state === 'failed';
      await tx.updateTable('headnode').set({ power: 'on', resets, ...(again ? { state: 'starting', error: null } : {}) }).where('id', '=', hn.id).execute();
    });
    this.#o.changed();
  }

  async stop(p: Principal, label: string): Promise<void> {
    await inTx(this.deps, async (tx) => {
      const hn = await this.#owned(tx, p, label);
      await tx.updateTable('headnode').set({ power: 'off' }).where('id', '=', hn.id).execute();
    });
    this.#o.changed();
  }

  async powerStatus(p: Principal, label: string): Promise<{ power_status: 'On' | 'Off' }> {
    const hn = await this.#visible(label, p);
    return { power_status: hn.state === 'running' || hn.state === 'starting' ? 'On' : 'Off' };
  }

  async consoleLog(p: Principal, label: string): Promise<Buffer> {
    const hn = await this.#visible(label, p);
    return logTail(consoleLogPath(vmDir(this.#o.runDir, hn.uuid)), this.#o.consoleLogBytes);
  }

  /** The serial line from now on (a stream of what it prints), while the caller listens. */
  async console(p: Principal, label: string, signal: AbortSignal): Promise<AsyncIterable<Buffer>> {
    const hn = await this.#visible(label, p);
    return followLog(consoleLogPath(vmDir(this.#o.runDir, hn.uuid)), signal);
  }

  /** Typing into the serial line as well; the VM must run. */
  async interactiveConsole(p: Principal, label: string, signal: AbortSignal) {
    const hn = await this.#visible(label, p);
    if (hn.state !== 'running') throw new IllegalStateError(`Headnode ${label} is not running.`);
    const dir = vmDir(this.#o.runDir, hn.uuid);
    return openSerial(consoleSocketPath(dir), consoleLogPath(dir), signal);
  }

  async #visible(label: string, p: Principal): Promise<HeadnodeRow> {
    const hn = await getHeadnode(this.deps.db, label);
    requireProjectAccess(p, hn.project_id);
    return hn;
  }

  async createHnic(p: Principal, label: string, hnic: string, body: { address?: string } = {}): Promise<void> {
    if (body.address !== undefined) requireCidr('address', body.address);
    await inTx(this.deps, async (tx) => {
      const hn = await this.#owned(tx, p, label);
      await absentOrConflict(tx.selectFrom('hnic').select('id').where('headnode_id', '=', hn.id).where('label', '=', hnic).executeTakeFirst(), `Hnic "${hnic}" already exists on headnode "${label}".`);
      this.#requireStopped(hn, 'add an hnic');
      let mac = localMac();
      while (await tx.selectFrom('hnic').select('id').where('mac', '=', mac).executeTakeFirst()) mac = localMac();
      // The label was free under the headnode's lock; a violation now is another hnic drawing the same MAC at this instant.
      await insertUnique(tx.insertInto('hnic').values({ label: hnic, headnode_id: hn.id, network_id: null, mac, address: body.address ?? null }).execute(), 'Two hnics drew the same MAC at once; try again.');
    });
  }

  async deleteHnic(p: Principal, label: string, hnic: string): Promise<void> {
    await inTx(this.deps, async (tx) => {
      const hn = await this.#owned(tx, p, label);
      const row = await this.#hnic(tx, hn, hnic);
      this.#requireStopped(hn, 'remove an hnic');
      await tx.deleteFrom('hnic').where('id', '=', row.id).execute();
    });
  }

  async connectNetwork(p: Principal, label: string, hnic: string, network: string): Promise<void> {
    await inTx(this.deps, async (tx) => {
      const hn = await this.#owned(tx, p, label);
      const row = await this.#hnic(tx, hn, hnic);
      const net = await getNetwork(tx, network, 'share');
      await requireUsableNetwork(tx, net, hn.project_id, this.deps.provisioningNetwork);
      await tx.updateTable('hnic').set({ network_id: net.id }).where('id', '=', row.id).execute();
    });
    this.#o.changed();
  }

  async detachNetwork(p: Principal, label: string, hnic: string): Promise<void> {
    await inTx(this.deps, async (tx) => {
      const hn = await this.#owned(tx, p, label);
      const row = await this.#hnic(tx, hn, hnic);
      await tx.updateTable('hnic').set({ network_id: null }).where('id', '=', row.id).execute();
    });
    this.#o.changed();
  }

  /** The headnode, locked for the change, if the caller may change it. */
  async #owned(tx: Tx, p: Principal, label: string): Promise<HeadnodeRow> {
    const hn = await getHeadnode(tx, label, 'update');
    requireProjectAccess(p, hn.project_id);
    return hn;
  }

  async #hnic(tx: Tx, hn: HeadnodeRow, label: string) {
    const row = await tx.selectFrom('hnic').selectAll().where('headnode_id', '=', hn.id).where('label', '=', label).executeTakeFirst();
    if (!row) throw new NotFoundError(`Hnic "${label}" does not exist on headnode "${hn.label}".`);
    return row;
  }

  #requireStopped(hn: HeadnodeRow, what: string): void {
    // A VM's NICs are fixed while it runs (no hot-plug); its networks are not.
    if (hn.power === 'on' || hn.state !== 'stopped') throw new IllegalStateError(`Cannot ${what} while headnode ${hn.label} runs; stop it first.`);
  }
}

/** A locally administered unicast MAC in QEMU's 52:54:00 prefix. */
function localMac(): string {
  return ['52', '54', '00', ...[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

export const headnodeService = (deps: CoreDeps, o: HeadnodeOptions) => new HeadnodeService(deps, o);
