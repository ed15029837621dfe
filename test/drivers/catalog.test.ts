import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadArgumentError } from '../../src/errors.ts';
import { Catalog } from '../../src/drivers/catalog.ts';
import { switchCatalog } from '../../src/drivers/switch/index.ts';
import { bmcCatalog } from '../../src/drivers/bmc/index.ts';
import { allocators } from '../../src/drivers/allocator/index.ts';
import { authBackends } from '../../src/drivers/auth/index.ts';
import { AUTH_BACKEND_NAMES } from '../../src/config/schema.ts';
import { connectUpstream } from '../../src/drivers/hil/upstream.ts';

const upstream = connectUpstream({ endpoint: 'http://127.0.0.1:1', credentials: { username: 'u', password: 'p' }, project: 'p', timeoutMs: 1000 });

describe('driver catalogs', () => {
  it('resolves by name, says which names exist otherwise, and skips drivers a context cannot make', () => {
    const c = new Catalog([{ type: 'a' }, undefined, { type: 'b' }], { unknown: (n, known) => `${n} not in ${known.join('/')}` });
    assert.deepEqual(c.types(), ['a', 'b']);
    assert.equal(c.resolve('b').type, 'b');
    assert.equal(c.get('z'), undefined);
    assert.throws(() => c.resolve('z'), (e: Error) => e instanceof BadArgumentError && e.message === 'z not in a/b');
  });

  it('lists the switch models, the hil switch only for a derived HIL, and takes upstream short names', () => {
    const db = undefined as never; // drivers are built, not used
    const vendors = ['nexus', 'dell', 'n3000', 'dellos10', 'brocade', 'dellnos9'].map((v) => `hil.ext.switches.${v}`);
    assert.deepEqual(switchCatalog({ db: { withTables: () => db } as never }).all().map((d) => d.extensionName), ['hil.ext.switches.mock', 'hil.ext.switches.ovs', ...vendors]);
    const derived = switchCatalog({ db: { withTables: () => db } as never, upstream });
    assert.deepEqual(derived.all().map((d) => d.extensionName), ['hil.ext.switches.mock', 'hil.ext.switches.ovs', 'hil.ext.switches.hil', ...vendors]);
    assert.equal(derived.resolve('ovs').type, 'http://schema.massopencloud.org/haas/v0/switches/ovs');
    for (const short of ['nexus', 'powerconnect55xx', 'delln3000', 'dellos10', 'brocade', 'dellnos9']) assert.equal(derived.resolve(short).type, `http://schema.massopencloud.org/haas/v0/switches/${short}`);
    assert.throws(() => derived.resolve('nexus5k'), /"nexus5k" is not a valid switch type/);
  });

  it('lists the BMC types: hil only for a derived HIL; obmd delegates, the others are driven', () => {
    assert.deepEqual(bmcCatalog({ timeoutMs: 1000 }).types(), ['mock', 'ipmi', 'redfish', 'obmd']);
    const derived = bmcCatalog({ timeoutMs: 1000, upstream });
    assert.deepEqual(derived.types(), ['mock', 'ipmi', 'redfish', 'obmd', 'hil']);
    for (const d of derived.all()) assert.equal(Boolean(d.delegate), d.type === 'obmd', d.type);
    assert.equal(derived.resolve('redfish').console, undefined, 'Redfish has no serial console');
    assert.throws(() => derived.resolve('ilo'), /"ilo" is not a known OBM type \(known: mock, ipmi, redfish, obmd, hil\)/);
  });

  it('names the allocators and auth backends the configuration may choose', () => {
    assert.deepEqual(allocators.types(), ['vlan_pool', 'null', 'hil']);
    // The configuration's list and the catalog must be the same: a backend the schema accepts must exist.
    assert.deepEqual(authBackends.types(), [...AUTH_BACKEND_NAMES]);
    assert.deepEqual(authBackends.types(), ['database', 'null', 'keystone', 'oidc']);
    assert.equal(allocators.resolve('hil').create({ vlans: '', upstream }).extensionName, 'hil.ext.network_allocators.hil');
    assert.throws(() => allocators.resolve('hil').create({ vlans: '' }), /needs an \[upstream\]/);
  });
});
