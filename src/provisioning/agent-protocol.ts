/**
 * The agent protocol (version 1, docs/fast-provisioning.md) on top of the
 * state machine: what a node's boot-script fetch, an FPBL agent's report or a
 * return agent's report means for its row (machine.ts decides, rows.ts
 * stores), and which command answers it. Tokens are minted here, one per
 * FPBL boot and one per deploy for the customer's OS, and kept only hashed.
 */
import { inTx } from '../core/context.ts';
import type { ProvisioningRow } from '../store/schema.ts';
import type { ProvisioningContext } from './context.ts';
import { FpblFiles } from './fpbl-files.ts';
import { deployId, next, type AgentCommand, type AgentReport, type Position, type ProvisioningEvent } from './machine.ts';
import { rowByToken, rowOfNode, transition } from './rows.ts';
import { BOOT_EXPORT_COLUMNS, netrootWords } from '../disks/netroot.ts';
import { hashToken, mintToken } from './tokens.ts';
import { cacheCommand, reportedCache, wantedBlobs } from './prefetch.ts';
import { afterRelease, releaseBootDisk } from './boot-release.ts';
import type { JumpProbe } from '../disks/jump-probe.ts';

export type { AgentCommand, AgentReport } from './machine.ts';

/**
 * How a loaded FPBL notices it has left the provisioning network: reports
 * every 0.2 s, each given 1 s, and 3 failures in a row mean "gone" (about
 * 3.6 s). The agent's defaults (0.5 s, 2 s) took 7.5 s, half of a deploy in
 * the lab. The answer to a report never waits here, so a second is ample.
 */
export const WAIT: AgentCommand = { command: 'wait', report_timeout: '1', failures: '3', interval: '0.2' };
const NONE: AgentCommand = { command: 'none' };
/** How long an FPBL's report is held when there is nothing to tell it (the agent gives a report 30 s). */
const HOLD_MS = 20_000;

/** Which command answers an FPBL's report, given where its node is now. */
export function fpblAnswer(row: Position, report: AgentReport): 'none' | 'wipe' | 'deploy' | 'wait' | 'abort' | 'rejoin' {
  if (row.phase === 'wiping') return report.state === 'wiped' ? 'none' : 'wipe';
  // Only an FPBL back from a diskless OS reports while a reclaim moves the NICs (any other has no token yet).
  if (row.state === 'reclaiming' && row.phase === 'switching') return 'rejoin';
  if (row.state === 'deploying' && row.phase === 'loading') return report.state === 'failed' ? 'none' : 'deploy';
  if (row.state === 'deploying' && (row.phase === 'loaded' || row.phase === 'switching')) return 'wait';
  if (report.state === 'loaded') return 'abort'; // a load nobody wants any more
  return 'none';
}

/**
 * A deploy with a disk: where the FPBL asks whether to jump (the boot
 * network's server, jump-probe.ts) instead of inferring it from failed
 * reports; nothing for a deploy without one.
 */
const jumpFields = (probe: JumpProbe | undefined): Record<string, string> => (probe ? { jump_url: probe.url, jump_ip: probe.address } : {});

export class AgentProtocol {
  readonly #ctx: ProvisioningContext;
  readonly #fpbl: FpblFiles;

  constructor(ctx: ProvisioningContext) {
    this.#ctx = ctx;
    this.#fpbl = new FpblFiles(ctx.o.fpblDir);
  }

  /** The path of an FPBL file (vmlinuz, initrd.img); NotFoundError for any other name or when it is not built. */
  fpblFile(name: string): string {
    return this.#fpbl.path(name);
  }

  /** The iPXE script for a NIC's MAC, when its node is waiting to PXE-boot the FPBL (one token per boot). */
  async bootScript(mac: string): Promise<string | null> {
    const m = mac.toLowerCase();
    const row = await this.#ctx.deps.db
      .selectFrom('nic')
      .innerJoin('node_provisioning', 'node_provisioning.node_id', 'nic.node_id')
      .selectAll('node_provisioning')
      .where((eb) => eb(eb.fn('lower', ['nic.macaddr']), '=', m))
      .where('node_provisioning.state', '=', 'booting-fpbl')
      .where('node_provisioning.phase', '=', 'pxe')
      .executeTakeFirst();
    if (!row) return null;
    const { token, hash } = mintToken();
    if (!(await this.#apply(row, { type: 'boot-script', fpblTokenHash: hash }))) return null;
    const base = `${this.#ctx.o.url}/fpbl/v1/fpbl`;
    return `#!ipxe
kernel ${base}/vmlinuz initrd=initrd.img ${this.#fpblCmdline(token, m)}
initrd ${base}/initrd.img
boot
`;
  }

  /**
   * An agent's report: applies what it says to the node's state, then answers
   * with the next command (holding an idle FPBL up to 20 s, so that a
   * command reaches it at once). null: the token is not valid.
   */
  async report(token: string, report: AgentReport, signal: AbortSignal): Promise<AgentCommand | null> {
    const found = await rowByToken(this.#ctx.deps.db, token);
    if (!found) return null;
    const { kind, row } = found;
    await this.#ctx.deps.db
      .updateTable('node_provisioning')
      .set({ last_seen: Date.now(), ...(kind === 'fpbl' && report.ip ? { ip: report.ip } : {}), ...(kind === 'fpbl' && report.boot_id ? { boot_id: report.boot_id } : {}) })
      .where('node_id', '=', row.node_id)
      .execute();
    if (kind === 'return') return this.#returnCommand(row, report);
    if (row.state === 'reclaiming' && report.state === 'fresh' && (await this.#ctx.diskless.bootDisks.jumpProbe(row.node_id))) await this.#backFromDiskless(row, report);
    // Most reports change nothing: no transaction, no tick.
    else if (await this.#apply(row, { type: 'fpbl-report', report })) this.#ctx.kick();
    const deadline = Date.now() + HOLD_MS;
    for (;;) {
      const current = await rowOfNode(this.#ctx.deps.db, row.node_id);
      if (!current || current.fpbl_token_hash !== hashToken(token)) return NONE; // the node is not this FPBL's any more
      const command = await this.#fpblCommand(current, report);
      if (command.command !== 'none' || Date.now() >= deadline || signal.aborted) return command;
      await this.#ctx.changes.waitFor(row.node_id, deadline - Date.now(), signal);
    }
  }

  /** The image file a node may fetch: only its own deploy's, and only while it deploys. */
  async payload(token: string, part: string): Promise<{ sha256: string } | 'unauthorized' | null> {
    const found = await rowByToken(this.#ctx.deps.db, token);
    if (!found || found.kind !== 'fpbl') return 'unauthorized';
    const { row } = found;
    if (row.state !== 'deploying' || row.image_id === null) return null;
    const image = await this.#ctx.deps.db.selectFrom('image').selectAll().where('id', '=', row.image_id).executeTakeFirst();
    const sha = part === 'kernel' ? image?.kernel_sha256 : part === 'initrd' ? image?.initrd_sha256 : null;
    return sha ? { sha256: sha } : null;
  }

  /**
   * The FPBL of a node reclaimed from a diskless OS reports, through the
   * boot network's server (its command line named it): that OS, and its
   * shutdown's last writes to the disk, are over. The disk goes, the NICs
   * move to the provisioning network, and the answer, `rejoin`, sends the
   * FPBL after them.
   */
  async #backFromDiskless(row: ProvisioningRow, report: AgentReport): Promise<void> {
    const to = next(row, { type: 'fpbl-report', report, diskless: true }, this.#ctx.o, Date.now());
    if (!to) return;
    const released = await inTx(this.#ctx.deps, async (tx) => ((await transition(tx, this.#ctx.log, row, to)) ? releaseBootDisk(this.#ctx, tx, row.node_id) : null));
    if (released) afterRelease(this.#ctx, released);
    this.#ctx.changes.changed(row.node_id);
    this.#ctx.kick();
  }

  /** Applies what `event` means for `row`; false when it means nothing or the row had moved on. */
  async #apply(row: ProvisioningRow, event: ProvisioningEvent): Promise<boolean> {
    const to = next(row, event, this.#ctx.o, Date.now());
    if (!to) return false;
    const moved = await inTx(this.#ctx.deps, (tx) => transition(tx, this.#ctx.log, row, to));
    if (moved) this.#ctx.changes.changed(row.node_id);
    return moved;
  }

  async #fpblCommand(row: ProvisioningRow, report: AgentReport): Promise<AgentCommand> {
    const answer = fpblAnswer(row, report);
    if (answer === 'deploy') return this.#deployCommand(row, report);
    if (answer === 'wait') return { ...WAIT, ...jumpFields(await this.#ctx.diskless.bootDisks.jumpProbe(row.node_id)) };
    if (answer === 'rejoin') return { command: 'rejoin', url: this.#ctx.o.url };
    if (answer === 'none' && row.state === 'ready') return (await this.#cacheCommand(row, report)) ?? NONE;
    return { command: answer };
  }

  /** A ready FPBL's cache brought to what its project may deploy (prefetch.ts); null: it holds just that. */
  async #cacheCommand(row: ProvisioningRow, report: AgentReport): Promise<AgentCommand | null> {
    const wanted = await wantedBlobs(this.#ctx.deps.db, row.node_id, this.#ctx.o.prefetchBytes);
    return cacheCommand(wanted, reportedCache(report.cached), (sha) => `${this.#ctx.o.url}/fpbl/v1/blob/${sha}`);
  }

  /**
   * A blob an FPBL may fetch into its cache: one of the images its node's
   * project may deploy, within the prefetch budget. null: not one of them.
   */
  async blob(token: string, sha256: string): Promise<{ sha256: string } | 'unauthorized' | null> {
    const found = await rowByToken(this.#ctx.deps.db, token);
    if (!found || found.kind !== 'fpbl') return 'unauthorized';
    const wanted = await wantedBlobs(this.#ctx.deps.db, found.row.node_id, this.#ctx.o.prefetchBytes);
    return wanted.some((b) => b.sha256 === sha256) ? { sha256 } : null;
  }

  /** The deploy command, with a fresh return token for the customer's OS. */
  async #deployCommand(row: ProvisioningRow, report: AgentReport): Promise<AgentCommand> {
    const { db } = this.#ctx.deps;
    const { url } = this.#ctx.o;
    const image = await db.selectFrom('image').selectAll().where('id', '=', row.image_id!).executeTakeFirstOrThrow();
    const { token, hash } = mintToken();
    await db.updateTable('node_provisioning').set({ return_token_hash: hash }).where('node_id', '=', row.node_id).where('phase', '=', 'loading').execute();
    const mac = await this.#macOf(row.node_id, report.mac);
    const probe = await this.#ctx.diskless.bootDisks.jumpProbe(row.node_id);
    // A diskless OS stays on its boot network, whose server relays its return agent's reports; any other is put back on the provisioning network first.
    const hil = probe ? `hil.url=${probe.server} hil.token=${token} hil.mac=${mac}` : `hil.url=${url} hil.token=${token} hil.mac=${mac}${row.ip ? ` hil.ip=${row.ip}` : ''}`;
    const root = await this.#netroot(row.node_id);
    const { command: _wait, ...waitFields } = WAIT;
    return {
      command: 'deploy',
      kernel_url: `${url}/fpbl/v1/payload/kernel`,
      kernel_sha256: image.kernel_sha256!,
      initrd_url: `${url}/fpbl/v1/payload/initrd`,
      initrd_sha256: image.initrd_sha256!,
      cmdline: [image.cmdline, root, hil].filter(Boolean).join(' '),
      // Loaded, the agent waits at once and says so in its next report (machine.ts): one round trip fewer than a separate "wait".
      then: 'wait',
      deploy_id: deployId(row) ?? '',
      ...waitFields,
      ...jumpFields(probe),
      // What it may keep in its cache meanwhile: its own project's images, nothing of another's.
      keep: (await wantedBlobs(db, row.node_id, this.#ctx.o.prefetchBytes)).map((b) => b.sha256).join(','),
    };
  }

  /** A deploy with a disk (provisioning.service.ts deployDisk): the words that mount the root filesystem from its export. */
  async #netroot(nodeId: number): Promise<string | undefined> {
    const disk = await this.#ctx.deps.db
      .selectFrom('node_boot')
      .innerJoin('disk', 'disk.id', 'node_boot.disk_id')
      .select(BOOT_EXPORT_COLUMNS)
      .where('node_boot.node_id', '=', nodeId)
      .executeTakeFirst();
    return disk && netrootWords(disk);
  }

  /**
   * The return agent of a customer OS: told to kexec back into the FPBL when
   * its node is being reclaimed. A diskless OS asks through its boot
   * network's server, fetches the FPBL there, and that FPBL first reports
   * there too (#backFromDiskless).
   */
  async #returnCommand(row: ProvisioningRow, report: AgentReport): Promise<AgentCommand> {
    const { token, hash } = mintToken();
    const to = next(row, { type: 'return-report', report, fpblTokenHash: hash }, this.#ctx.o, Date.now());
    if (!to) return NONE;
    const probe = await this.#ctx.diskless.bootDisks.jumpProbe(row.node_id);
    const [kernelSha, initrdSha] = [await this.#fpbl.sha256('vmlinuz'), await this.#fpbl.sha256('initrd.img')];
    if (!(await inTx(this.#ctx.deps, (tx) => transition(tx, this.#ctx.log, row, to)))) return NONE;
    this.#ctx.changes.changed(row.node_id);
    const base = probe?.server ?? this.#ctx.o.url;
    return {
      command: 'return',
      kernel_url: `${base}/fpbl/v1/fpbl/vmlinuz`,
      kernel_sha256: kernelSha,
      initrd_url: `${base}/fpbl/v1/fpbl/initrd.img`,
      initrd_sha256: initrdSha,
      cmdline: this.#fpblCmdline(token, await this.#macOf(row.node_id, report.mac), base),
    };
  }

  /** The MAC the agent reported if it is one of the node's cabled NICs, else the first of those. */
  async #macOf(nodeId: number, reported?: string): Promise<string> {
    const nics = await this.#ctx.deps.db.selectFrom('nic').select('macaddr').where('node_id', '=', nodeId).where('port_id', 'is not', null).orderBy('id').execute();
    const macs = nics.map((n) => (n.macaddr ?? '').toLowerCase()).filter(Boolean);
    return reported && macs.includes(reported.toLowerCase()) ? reported.toLowerCase() : (macs[0] ?? '');
  }

  /** The FPBL's kernel command line: where HIL is (for an FPBL back from a diskless OS, its boot network's server), the boot's token, the NIC to bring up. */
  #fpblCmdline(token: string, mac: string, url = this.#ctx.o.url): string {
    return `console=ttyS0,115200 quiet hil.url=${url} hil.token=${token} hil.mac=${mac}`;
  }
}
