/**
 * What must hold in a HIL database whatever requests came before, read with
 * SQL. Each check returns the violations it found as sentences naming the
 * rows, so a failure says what is wrong; `violations()` runs them all.
 * (The schema's constraints cover the rest: one project per node, one nic
 * per port, one action per nic, one attachment per nic and network.)
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../src/store/schema.ts';
import type { MockSwitchTables } from '../../src/drivers/switch/mock-schema.ts';

type Db = Kysely<Database>;

/** The VLAN pool and the networks agree: a VLAN is taken exactly when one network holds it. */
export async function vlanViolations(db: Db): Promise<string[]> {
  const taken = (await db.selectFrom('vlan').select('vlan_no').where('available', '=', false).execute()).map((r) => String(r.vlan_no));
  const held = await db.selectFrom('network').select(['label', 'network_id']).where('allocated', '=', true).execute();
  const out: string[] = [];
  const holders = new Map<string, string[]>();
  for (const n of held) holders.set(n.network_id, [...(holders.get(n.network_id) ?? []), n.label]);
  for (const [vlan, labels] of holders) {
    if (labels.length > 1) out.push(`VLAN ${vlan} is held by ${labels.length} networks: ${labels.join(', ')}`);
    if (!taken.includes(vlan)) out.push(`VLAN ${vlan} is held by network ${labels.join(', ')} but marked available`);
  }
  for (const vlan of taken) if (!holders.has(vlan)) out.push(`VLAN ${vlan} is marked taken but no network holds it`);
  return out;
}

/** A nic is on (or on its way to) a network only if its node is in a project that may use that network. */
export async function attachmentViolations(db: Db): Promise<string[]> {
  const rows = await db
    .selectFrom('network_attachment')
    .innerJoin('nic', 'nic.id', 'network_attachment.nic_id')
    .innerJoin('node', 'node.id', 'nic.node_id')
    .innerJoin('network', 'network.id', 'network_attachment.network_id')
    .select(['node.label as node', 'nic.label as nic', 'nic.port_id', 'node.project_id', 'network.id as network_id', 'network.label as network'])
    .unionAll(
      db
        .selectFrom('networking_action')
        .innerJoin('nic', 'nic.id', 'networking_action.nic_id')
        .innerJoin('node', 'node.id', 'nic.node_id')
        .innerJoin('network', 'network.id', 'networking_action.new_network_id')
        .select(['node.label as node', 'nic.label as nic', 'nic.port_id', 'node.project_id', 'network.id as network_id', 'network.label as network'])
        .where('networking_action.status', '=', 'PENDING'),
    )
    .execute();
  const access = await db.selectFrom('network_access').select(['network_id', 'project_id']).execute();
  const out: string[] = [];
  for (const r of rows) {
    const what = `${r.node}/${r.nic} on (or queued for) network ${r.network}`;
    if (r.project_id === null) {
      out.push(`${what}, but node ${r.node} is in no project`);
      continue;
    }
    const list = access.filter((a) => a.network_id === r.network_id);
    if (list.length && !list.some((a) => a.project_id === r.project_id)) out.push(`${what}, whose access list lacks the node's project (id ${r.project_id})`);
    if (r.port_id === null) out.push(`${what}, but the nic is cabled to no port`);
  }
  return out;
}

/** A node in no project has no pending changes to its networks. */
export async function freeNodeViolations(db: Db): Promise<string[]> {
  const rows = await db
    .selectFrom('networking_action')
    .innerJoin('nic', 'nic.id', 'networking_action.nic_id')
    .innerJoin('node', 'node.id', 'nic.node_id')
    .select(['node.label as node', 'nic.label as nic'])
    .where('networking_action.status', '=', 'PENDING')
    .where('networking_action.type', '=', 'modify_port')
    .where('node.project_id', 'is', null)
    .execute();
  return rows.map((r) => `free node ${r.node} has a pending modify_port on ${r.nic}`);
}

/**
 * Once no action is pending, every mock switch port carries exactly the
 * networks the database says its nic is attached to.
 */
export async function switchViolations(db: Db): Promise<string[]> {
  const key = (r: { switch_id: number; port: string; channel: string; network_id: string }) => `${r.switch_id} ${r.port} ${r.channel} ${r.network_id}`;
  const recorded = await db
    .selectFrom('network_attachment')
    .innerJoin('nic', 'nic.id', 'network_attachment.nic_id')
    .innerJoin('port', 'port.id', 'nic.port_id')
    .innerJoin('network', 'network.id', 'network_attachment.network_id')
    .select(['port.switch_id', 'port.label as port', 'network_attachment.channel', 'network.network_id'])
    .execute();
  const device = await db.withTables<MockSwitchTables>().selectFrom('mock_switch_port').select(['switch_id', 'port', 'channel', 'network_id']).execute();
  const inDb = new Set(recorded.map(key));
  const onSwitch = new Set(device.map(key));
  return [
    ...[...inDb].filter((k) => !onSwitch.has(k)).map((k) => `attachment (switch port channel vlan) ${k} is not on the mock switch`),
    ...[...onSwitch].filter((k) => !inDb.has(k)).map((k) => `the mock switch has (switch port channel vlan) ${k}, which no attachment records`),
  ];
}

export async function pendingActions(db: Db): Promise<number> {
  const rows = await db.selectFrom('networking_action').select('id').where('status', '=', 'PENDING').execute();
  return rows.length;
}

/** Every check; the switch's only when nothing is pending (until then it lags the database by design). */
export async function violations(db: Db): Promise<string[]> {
  const out = [...(await vlanViolations(db)), ...(await attachmentViolations(db)), ...(await freeNodeViolations(db))];
  if ((await pendingActions(db)) === 0) out.push(...(await switchViolations(db)));
  return out;
}
