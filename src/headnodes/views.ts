/** What `GET /headnode/<hn>` answers: upstream's keys, then this server's (docs/compat.md). */
import type { Kysely } from 'kysely';
import type { Database, HeadnodeRow, HeadnodePower, HeadnodeState } from '../store/schema.ts';

export interface HnicView {
  network: string | null;
  mac: string;
  address: string | null;
}

export interface HeadnodeView {
  name: string;
  project: string;
  hnics: string[];
  /** Upstream's VNC port: always null here, the console is the serial console API. */
  vncport: null;
  uuid: string;
  base_img: string;
  power: HeadnodePower;
  state: HeadnodeState;
  error: string | null;
  /** Each hnic by label: its network, MAC and address (null: DHCP). */
  nics: Record<string, HnicView>;
  ssh_keys: string[];
}

export async function headnodeView(db: Kysely<Database>, hn: HeadnodeRow): Promise<HeadnodeView> {
  const project = await db.selectFrom('project').select('label').where('id', '=', hn.project_id).executeTakeFirstOrThrow();
  const hnics = await db
    .selectFrom('hnic')
    .leftJoin('network', 'network.id', 'hnic.network_id')
    .select(['hnic.label', 'hnic.mac', 'hnic.address', 'network.label as network'])
    .where('hnic.headnode_id', '=', hn.id)
    .orderBy('hnic.label')
    .execute();
  return {
    name: hn.label,
    project: project.label,
    hnics: hnics.map((h) => h.label),
    vncport: null,
    uuid: hn.uuid,
    base_img: hn.base_img,
    power: hn.power,
    state: hn.state,
    error: hn.error,
    nics: Object.fromEntries(hnics.map((h) => [h.label, { network: h.network, mac: h.mac, address: h.address }])),
    ssh_keys: JSON.parse(hn.ssh_keys) as string[],
  };
}
