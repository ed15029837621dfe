/**
 * What must hold in a HIL whatever requests it answered, checked once the
 * networking worker is idle: the database invariants every test shares, and
 * what only a fuzz run can break (junk names, lists, the last admin, the
 * server itself). Each check returns what breaks it, as sentences; an empty
 * list is a pass.
 */
import { sql } from 'kysely';
import type { TestHil } from '../support/hil.ts';
import { violations } from '../support/invariants.ts';
import { ACTORS } from './world.ts';
import { abbreviate } from './requests.ts';

type Check = (t: TestHil) => Promise<string[]>;

const LABELLED = ['project', 'node', 'network', 'switch', 'user', 'image', 'nic', 'port', 'node_metadata'] as const;

const CHECKS: Record<string, Check> = {
  // The VLAN pool, attachments and access lists, free nodes, the mock switches' ports: shared with the race harness.
  'the database invariants (test/support/invariants.ts)': (t) => violations(t.hil.store.db),

  async 'every networking action is DONE or ERROR'(t) {
    const rows = await t.hil.store.db.selectFrom('networking_action').select(['uuid', 'status']).where('status', 'not in', ['DONE', 'ERROR']).execute();
    return rows.map((r) => `action ${r.uuid} is ${r.status}`);
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
