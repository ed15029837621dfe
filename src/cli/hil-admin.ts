/**
 * hil-admin: the server-side commands.
 *
 *   hil-admin [--config FILE] db migrate
 *   hil-admin [--config FILE] create-admin-user NAME     (password: $HIL_ADMIN_PASSWORD or a prompt)
 *   hil-admin [--config FILE] serve [--no-worker] [--migrate]
 *   hil-admin [--config FILE] serve-networks
 *   hil-admin [--config FILE] network verify [--switch S] [--fix]
 *   hil-admin [--config FILE] switch trust-host-key SWITCH FINGERPRINT
 *   hil-admin [--config FILE] pool import | grow N | shrink N | status     (a derived HIL)
 *   hil-admin [--config FILE] fpbl build [--out DIR]
 *   hil-admin fpbl example-image --marker TEXT --out DIR
 *   hil-admin [--config FILE] headnode build-image [--name NAME] [--out DIR]
 *   hil-admin --version
 */
import { parseArgs } from 'node:util';
import { ConfigError, databaseUrl, loadConfig, type Config } from '../config/config.ts';
import { createUser } from '../core/user.service.ts';
import { HilError, ListenError } from '../errors.ts';
import { SchemaOutdatedError, createHil, migrateDatabase } from '../assembly/hil.ts';
import { VERSION } from '../version.ts';
import { admin } from '../core/principal.ts';
import { createLogger } from '../util/log.ts';
import { serveApi, serveNetworks } from '../assembly/server.ts';
import { openStore } from '../store/db.ts';
import { trustHostKey } from '../drivers/switch/cli/host-keys.ts';
import { promptSecret } from './prompt.ts';
import { buildExampleImage, buildFpbl, FpblBuildError, type BuiltFile } from '../fpbl/build.ts';
import { buildExampleDiskImage } from '../fpbl/disk-image.ts';
import { buildHeadnodeImage, HeadnodeImageError } from '../headnodes/image/build.ts';
import { headnodeSettings } from '../config/headnode-settings.ts';
import { join, resolve } from 'node:path';

const USAGE = `usage: hil-admin [--config FILE] <command>

commands:
  db migrate                 create or upgrade the database schema (safe to repeat)
  create-admin-user NAME     create an administrator; password from $HIL_ADMIN_PASSWORD or a prompt
  serve [--no-worker]        run the API server (and, unless --no-worker, the networking worker)
        [--migrate]          ... migrating the schema first; with $HIL_ADMIN_PASSWORD, also create
                             the administrator "admin" when none exists (the quick start)
  serve-networks             run only the networking worker
  network verify             compare every switch port with the database; exit 1 on a difference
        [--switch S] [--fix] ... only switch S; repair the ports that differ
  switch trust-host-key SWITCH FINGERPRINT
                             after a switch was replaced or re-keyed: trust its new SSH host key
                             (check FINGERPRINT, "SHA256:…", on the switch's own console first)
  pool import                a derived HIL: register every node its base project owns
  pool grow N                ... take N free nodes from the base, and import them
  pool shrink N              ... return N free nodes to the base's free pool
  pool status                ... free nodes here, and at the base
  fpbl build [--out DIR]     build the FPBL (vmlinuz, initrd.img, fpbl.json) from this host's
                             kernel, busybox-static and kexec-tools; DIR defaults to <data_dir>/fpbl
  fpbl example-image         build an example customer OS (vmlinuz, initrd.img, cmdline) that
        --marker TEXT        prints TEXT when it boots and runs the return agent
        --out DIR
        --no-return-agent    without the return agent: reclaimed only by power cycle
        --disk               a diskless one instead: disk.qcow2 holds its root filesystem, which
                             its initramfs mounts from the node's iSCSI export (netroot=iscsi:…)
  headnode build-image       build a base headnode image (SSH, dnsmasq, iPXE) from this host's
        [--name NAME]        packages; NAME defaults to base-headnode (list it in [headnode] base_imgs)
        [--out DIR]          DIR defaults to [headnode] image_dir

examples:
  HIL_DATABASE_URL=postgres://hil@127.0.0.1/hil hil-admin db migrate
  HIL_ADMIN_PASSWORD=s3cret hil-admin create-admin-user admin
  HIL_LISTEN=0.0.0.0:5000 hil-admin serve --no-worker & hil-admin serve-networks`;

async function withSchema<T>(config: Config, fn: (store: ReturnType<typeof openStore>) => Promise<T>): Promise<T> {
  const store = openStore(databaseUrl(config));
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

async function trustSwitchHostKey(config: Config, label: string, fingerprint: string): Promise<void> {
  const { replaced, pinned } = await withSchema(config, (store) => trustHostKey(store.db, label, fingerprint));
  console.log(`switch ${label}: now trusting host key ${fingerprint}${replaced ? ` (replacing ${replaced}, ${pinned ? 'pinned at registration' : 'recorded on first use'})` : ''}`);
}

async function dbMigrate(config: Config): Promise<void> {
  const applied = await migrateDatabase(config);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'schema already up to date');
}

async function createAdmin(config: Config, name: string | undefined): Promise<void> {
  if (!name) throw new UsageError('create-admin-user needs a NAME');
  const password = process.env.HIL_ADMIN_PASSWORD ?? (await promptSecret(`password for ${name}: `));
  await withSchema(config, async (store) => {
    await createUser({ db: store.db }, name, password, true);
  });
  console.log(`administrator ${name} created`);
}

/** Quick start: the first administrator, from the environment, when there is none. */
async function ensureFirstAdmin(config: Config): Promise<void> {
  const password = process.env.HIL_ADMIN_PASSWORD;
  if (!password || config.auth.backend !== 'database') return;
  await withSchema(config, async (store) => {
    const anyAdmin = await store.db.selectFrom('user').select('id').where('is_admin', '=', true).executeTakeFirst();
    if (!anyAdmin) {
      await createUser({ db: store.db }, 'admin', password, true);
      console.error('hil-admin: created administrator "admin" with the password in HIL_ADMIN_PASSWORD');
    }
  });
}

/** Prints the report; exits 1 while any difference is left unrepaired or a switch unreadable. */
async function networkVerify(config: Config, sw: string | undefined, fix: boolean): Promise<void> {
  const hil = await createHil(config, { log: createLogger('warn'), api: false, worker: false });
  try {
    const r = await hil.services.verify.verify(admin('hil-admin'), { switch: sw, fix });
    const fmt = (s: Record<string, string>) => Object.entries(s).map(([c, n]) => `${c}=${n}`).join(' ') || '(none)';
    for (const d of r.differences) {
      const status = d.fixed === undefined ? 'DIFFERS' : d.fixed ? 'FIXED' : 'NOT FIXED';
      console.log(`${status}  ${d.switch} ${d.port}: expected ${fmt(d.expected)}, switch has ${fmt(d.actual)}`);
    }
    for (const p of r.pending) console.log(`PENDING  ${p}: an action is in progress; not compared`);
    for (const u of r.unreachable) console.log(`UNREACHABLE  ${u}`);
    const left = r.differences.filter((d) => !d.fixed).length;
    console.log(`${r.checked} ports on ${r.switches.length} switch(es) checked: ${r.differences.length} difference(s), ${left} left`);
    if (left || r.unreachable.length) process.exitCode = 1;
  } finally {
    await hil.close();
  }
}

/** The pool commands of a derived HIL (docs/recursive.md). */
async function poolCommand(config: Config, args: string[]): Promise<void> {
  const [sub, count] = args;
  const n = Number(count);
  const needsCount = sub === 'grow' || sub === 'shrink';
  if (!['import', 'grow', 'shrink', 'status'].includes(sub ?? '') || (needsCount && !(Number.isInteger(n) && n > 0))) {
    throw new UsageError('the pool commands are: hil-admin pool import | grow N | shrink N | status');
  }
  const hil = await createHil(config, { log: createLogger('warn'), api: false, worker: false });
  try {
    const pool = hil.pool;
    if (!pool) throw new UsageError('pool commands need an [upstream] (or HIL_UPSTREAM_ENDPOINT and friends): this HIL has no base');
    if (sub === 'import') console.log(`imported: ${(await pool.import()).join(' ') || '(nothing new)'}`);
    if (sub === 'grow') {
      const taken = await pool.grow(n);
      console.log(`taken from the base: ${taken.join(' ') || '(none)'}`);
      if (taken.length < n) {
        console.log(`the base had only ${taken.length} free node(s) to give`);
        process.exitCode = 1;
      }
    }
    if (sub === 'shrink') {
      const returned = await pool.shrink(n);
      console.log(`returned to the base: ${returned.join(' ') || '(none)'}`);
      if (returned.length < n) {
        console.log(`only ${returned.length} node(s) here were free to return`);
        process.exitCode = 1;
      }
    }
    if (sub === 'status') {
      console.log(`free here: ${(await pool.freeHere()).join(' ') || '(none)'}`);
      console.log(`free at the base: ${(await pool.baseFree()).join(' ') || '(none)'}`);
    }
  } finally {
    await hil.close();
  }
}

class UsageError extends Error {}

function printBuilt(files: BuiltFile[]): void {
  for (const f of files) console.log(`wrote ${f.path}  ${f.size} bytes  sha256 ${f.sha256}`);
}

/** hil-admin fpbl build | example-image (docs/fast-provisioning.md). */
function fpblCommand(config: Config | null, args: string[], out: string | undefined, marker: string | undefined, returnAgent = true, disk = false): void {
  const [sub] = args;
  if (sub === 'build' && args.length === 1) {
    const dir = resolve(out ?? join(config!.server.data_dir, 'fpbl'));
    const { files, manifest } = buildFpbl(dir);
    printBuilt(files);
    console.log(`FPBL: kernel ${manifest.kernel_version}`);
    return;
  }
  if (sub === 'example-image' && args.length === 1) {
    if (!marker || !out) throw new UsageError('fpbl example-image needs --marker TEXT and --out DIR');
    if (disk && !returnAgent) throw new UsageError('fpbl example-image --disk has no return agent to leave out');
    printBuilt(disk ? buildExampleDiskImage(resolve(out), marker).files : buildExampleImage(resolve(out), marker, { returnAgent }).files);
    return;
  }
  throw new UsageError('the fpbl commands are: hil-admin fpbl build [--out DIR] | fpbl example-image --marker TEXT --out DIR [--disk]');
}

/** hil-admin headnode build-image (docs/headnodes.md). */
async function headnodeCommand(config: Config, args: string[], out: string | undefined, name: string | undefined): Promise<void> {
  if (args[0] !== 'build-image' || args.length !== 1) throw new UsageError('the headnode command is: hil-admin headnode build-image [--name NAME] [--out DIR]');
  const dir = out ?? headnodeSettings(config)?.imageDir ?? join(config.server.data_dir, 'headnode-images');
  const image = await buildHeadnodeImage({ outDir: resolve(dir), name });
  console.log(`built headnode image ${image.name} in ${image.dir}`);
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      'no-worker': { type: 'boolean' },
      migrate: { type: 'boolean' },
      switch: { type: 'string' },
      fix: { type: 'boolean' },
      out: { type: 'string' },
      marker: { type: 'string' },
      name: { type: 'string' },
      'no-return-agent': { type: 'boolean' },
      disk: { type: 'boolean' },
      version: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.version) return void console.log(`hil-admin ${VERSION}`);
  if (values.help || positionals.length === 0) return void console.log(USAGE);

  const [command, ...rest] = positionals;
  // The example image needs no configuration; everything else reads it.
  if (command === 'fpbl' && rest[0] === 'example-image') return fpblCommand(null, rest, values.out, values.marker, !values['no-return-agent'], values.disk);
  const config = loadConfig({ file: values.config });
  switch (command) {
    case 'db':
      if (rest[0] !== 'migrate') throw new UsageError('the db command is: hil-admin db migrate');
      return dbMigrate(config);
    case 'create-admin-user':
      return createAdmin(config, rest[0]);
    case 'serve': {
      if (values.migrate) {
        await dbMigrate(config);
        await ensureFirstAdmin(config);
      }
      const log = createLogger(config.log.level, undefined, config.log.format);
      await serveApi(config, log, { worker: config.server.worker && !values['no-worker'], migrate: false });
      return;
    }
    case 'network':
      if (rest[0] !== 'verify') throw new UsageError('the network command is: hil-admin network verify [--switch S] [--fix]');
      return networkVerify(config, values.switch, values.fix ?? false);
    case 'switch':
      if (rest[0] !== 'trust-host-key' || rest.length !== 3) throw new UsageError('the switch command is: hil-admin switch trust-host-key SWITCH FINGERPRINT');
      return trustSwitchHostKey(config, rest[1]!, rest[2]!);
    case 'pool':
      return poolCommand(config, rest);
    case 'fpbl':
      return fpblCommand(config, rest, values.out, values.marker);
    case 'headnode':
      return headnodeCommand(config, rest, values.out, values.name);
    case 'serve-networks':
      await serveNetworks(config, createLogger(config.log.level, undefined, config.log.format));
      return;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError) console.error(`hil-admin: ${err.message}\n\n${USAGE}`);
  else if (err instanceof ConfigError || err instanceof ListenError || err instanceof FpblBuildError || err instanceof HeadnodeImageError || err instanceof SchemaOutdatedError || err instanceof HilError) console.error(`hil-admin: ${err.message}`);
  else if ((err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') console.error(`hil-admin: ${(err as Error).message}\n\n${USAGE}`);
  else console.error('hil-admin:', err);
  process.exit(1);
});
