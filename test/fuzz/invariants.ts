/**
 * What must hold in a HIL's database whatever requests it answered, checked
 * once the networking worker is idle. Each check returns what breaks it, as
 * sentences; an empty list is a pass.
 */
import { sql } from 'kysely';
import { admin } from '../../src/drivers/auth/interface.ts';
import { mockSwitchDb, type TestHil } from '../support/hil.ts';
import { MOCK_SWITCH } from '../support/fixtures.ts';
import { ACTORS } from './world.ts';
import { abbreviate } from './requests.ts';

type Check = (t: TestHil) => Promise<string[]>;

const LABELLED = ['project', 'node', 'network', 'switch', 'user', 'image', 'nic', 'port', 'node_metadata'] as const;

const CHECKS: Record<string, Check> = {
  async 'every networking action is DONE or ERROR'(t) {
    const rows = await t.hil.store.db.selectFrom('networking_action').select(['uuid', 'status']).where('status', 'not in', ['DONE', 'ERROR']).execute();
    return rows.map((r) => `action ${r.uuid} is ${r.status}`);
  },

  async 'no nic is attached twice to one network, or twice on one channel'(t) {
    const db = t.hil.store.db;
    const twice = (col: 'network_id' | 'channel') =>
      db
        .selectFrom('network_attachment')
        .select(['nic_id', col, (eb) => eb.fn.countAll<number>().as('n')])
        .groupBy(['nic_id', col])
        .having((eb) => eb.fn.countAll(), '>', 1)
        .execute();
    return [...(await twice('network_id')).map((r) => `nic ${r.nic_id} attached ${r.n} times to network ${r.network_id}`), ...(await twice('channel')).map((r) => `nic ${r.nic_id} has ${r.n} attachments on channel ${r.channel}`)];
  },

  async 'attachments belong to nodes in a project that may use the network'(t) {
    const rows = await t.hil.store.db
      .selectFrom('network_attachment as a')
      .innerJoin('nic', 'nic.id', 'a.nic_id')
      .innerJoin('node', 'node.id', 'nic.node_id')
      .innerJoin('network', 'network.id', 'a.network_id')
      .select(['node.label as node', 'nic.label as nic', 'network.label as network', 'node.project_id'])
      .where((eb) =>
        eb.or([
          eb('node.project_id', 'is', null),
          eb.and([
            eb.exists(eb.selectFrom('network_access as x').select('x.project_id').whereRef('x.network_id', '=', 'network.id')),
            eb.not(eb.exists(eb.selectFrom('network_access as y').select('y.project_id').whereRef('y.network_id', '=', 'network.id').whereRef('y.project_id', '=', 'node.project_id'))),
          ]),
        ]),
      )
      .execute();
    return rows.map((r) => `${r.node}/${r.nic} is on ${r.network}, but ${r.project_id === null ? 'the node is free' : 'its project may not use that network'}`);
  },

  async 'no nic is cabled to two ports, no port to two nics'(t) {
    const rows = await t.hil.store.db
      .selectFrom('nic')
      .select(['port_id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('port_id', 'is not', null)
      .groupBy('port_id')
      .having((eb) => eb.fn.countAll(), '>', 1)
      .execute();
    return rows.map((r) => `port ${r.port_id} has ${r.n} nics`);
  },

  async 'no VLAN of the pool is used by two networks, and the pool knows which are used'(t) {
    const db = t.hil.store.db;
    const out: string[] = [];
    const networks = await db.selectFrom('network').select(['label', 'network_id', 'allocated']).execute();
    const vlans = new Map((await db.selectFrom('vlan').select(['vlan_no', 'available']).execute()).map((v) => [String(v.vlan_no), Boolean(v.available)]));
    const users = new Map<string, string[]>();
    for (const n of networks) if (vlans.has(n.network_id)) users.set(n.network_id, [...(users.get(n.network_id) ?? []), n.label]);
    for (const [vlan, labels] of users) {
      if (labels.length > 1) out.push(`VLAN ${vlan} is used by ${labels.map((l) => JSON.stringify(l)).join(' and ')}`);
      if (vlans.get(vlan)) out.push(`VLAN ${vlan} is used by ${JSON.stringify(labels[0])} but marked available`);
    }
    for (const [vlan, available] of vlans) if (!available && !users.has(vlan)) out.push(`VLAN ${vlan} is marked in use, but no network has it`);
    for (const n of networks) if (Boolean(n.allocated) && !vlans.has(n.network_id)) out.push(`network ${JSON.stringify(n.label)} was allocated ${n.network_id}, which is not in the pool`);
    return out;
  },

  async 'no object is named "" (or holds a NUL)'(t) {
    const db = t.hil.store.db;
    const out: string[] = [];
    for (const table of LABELLED) {
      const empty = await db.selectFrom(table).select('id').where('label', '=', '').execute();
      if (empty.length) out.push(`${empty.length} ${table} row(s) named ""`);
      if (t.hil.store.kind === 'sqlite') {
        const nul = await sql<{ n: number }>`select count(*) as n from ${sql.table(table)} where instr(cast(label as blob), x'00') > 0`.execute(db);
        if (Number(nul.rows[0]!.n)) out.push(`${nul.rows[0]!.n} ${table} row(s) with a NUL in the name (read back cut short)`);
      }
    }
    return out;
  },

  async "the admin's lists name exactly the stored objects, each once"(t) {
    const api = t.as(ACTORS.admin);
    const out: string[] = [];
    const lists = { project: '/v0/projects', node: '/v0/nodes/all', network: '/v0/networks', switch: '/v0/switches', user: '/v0/auth/basic/users', image: '/v0/images' } as const;
    for (const [table, path] of Object.entries(lists) as Array<[keyof typeof lists, string]>) {
      const r = await api('GET', path);
      if (r.status !== 200 || typeof r.body !== 'object' || r.body === null) {
        out.push(`GET ${path} answered ${r.status} ${r.text.slice(0, 200)}`);
        continue;
      }
      // Lists are arrays of names, or objects keyed by name (networks, users).
      const listed: string[] = Array.isArray(r.body) ? r.body : Object.keys(r.body);
      const stored = (await t.hil.store.db.selectFrom(table).select('label').execute()).map((row) => row.label);
      const key = (names: string[]) => JSON.stringify([...names].sort());
      if (key(listed) !== key(stored) || listed.length !== new Set(listed).size) {
        out.push(`GET ${path} lists ${abbreviate(JSON.stringify([...listed].sort()), 300)}; the database holds ${abbreviate(JSON.stringify([...stored].sort()), 300)}`);
      }
    }
    return out;
  },

  async 'at least one administrator remains'(t) {
    const admins = await t.hil.store.db.selectFrom('user').select('id').where('is_admin', '=', true).execute();
    return admins.length ? [] : ['no user is an administrator'];
  },

  async 'every mock switch carries exactly what the database says (network verify)'(t) {
    const out: string[] = [];
    // A switch named "" (reported above) would make verify check every switch, the unreachable OVS ones too.
    const switches = await t.hil.store.db.selectFrom('switch').select(['id', 'label']).where('type', '=', MOCK_SWITCH).where('label', '!=', '').execute();
    for (const sw of switches) {
      const report = await t.hil.services.verify.verify(admin(), { switch: sw.label });
      for (const d of report.differences) out.push(`${d.switch} ${d.port}: database ${JSON.stringify(d.expected)}, switch ${JSON.stringify(d.actual)}`);
      for (const u of report.unreachable) out.push(`unreachable: ${u}`);
      for (const p of report.pending) out.push(`still pending: ${p}`);
    }
    // Ports HIL forgot, on which the mock switch still carries VLANs.
    const stale = await mockSwitchDb(t)
      .selectFrom('mock_switch_port as m')
      .innerJoin('switch', 'switch.id', 'm.switch_id')
      .select(['switch.label as switch', 'm.port', 'm.channel', 'm.network_id'])
      .where((eb) => eb.not(eb.exists(eb.selectFrom('port').select('port.id').whereRef('port.switch_id', '=', 'm.switch_id').whereRef('port.label', '=', 'm.port'))))
      .execute();
    for (const s of stale) out.push(`${s.switch} ${s.port} is not registered, but the switch still carries ${s.network_id} on ${s.channel}`);
    return out;
  },

  async 'the server still answers'(t) {
    const ok = await t.as(ACTORS.admin)('GET', '/v0/projects');
    const anon = await t.as()('GET', '/v0/projects');
    const out: string[] = [];
    if (ok.status !== 200) out.push(`GET /v0/projects as admin: ${ok.status} ${ok.text.slice(0, 200)}`);
    if (anon.status !== 401) out.push(`GET /v0/projects without credentials: ${anon.status} ${anon.text.slice(0, 200)}`);
    return out;
  },
};

/** Runs every check; returns "check: violation" lines. */
export async function checkInvariants(t: TestHil): Promise<string[]> {
  const out: string[] = [];
  for (const [name, check] of Object.entries(CHECKS)) {
    try {
      for (const v of await check(t)) out.push(`${name}: ${v}`);
    } catch (err) {
      out.push(`${name}: the check itself failed: ${(err as Error).message}`);
    }
  }
  return out;
}
