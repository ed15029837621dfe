/**
 * The routes other HIL processes call to relay a console this one holds
 * (src/api/routes/internal.routes.ts): no user's credentials open them, an
 * administrator's included, nor a wrong token; only the token this process
 * put in its process row does. They are not in the OpenAPI document.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { testDatabases } from '../support/databases.ts';
import { addUser, withHil } from '../support/hil.ts';

const TOKEN_HEADER = 'x-hil-internal-token';

for (const database of testDatabases()) {
  describe(`internal console routes on ${database.name}`, { skip: database.skip }, () => {
    it("open only with this process's token: anonymous, a tenant, an admin and a wrong token get 401", () =>
      withHil(database, { auth: 'database' }, async (t) => {
        const root = t.as(await addUser(t, 'root', 'root-pw', true));
        await root('PUT', '/v0/project/alpha');
        const alice = t.as(await addUser(t, 'alice', 'alice-pw', false, ['alpha']));
        await root('PUT', '/v0/node/n1', { obm: { type: 'mock' } });
        await root('POST', '/v0/project/alpha/connect_node', { node: 'n1' });
        await alice('PUT', '/v0/node/n1/obm', { enabled: true });
        await sleep(150);
        const node = await t.hil.store.db.selectFrom('node').select(['id', 'project_id']).where('label', '=', 'n1').executeTakeFirstOrThrow();
        const log = `/_hil/internal/console/${node.id}/log`;
        const query = `?project=${node.project_id}`;
        const token = t.hil.claims.internalToken;

        for (const [who, call, headers] of [
          ['anonymous', t.as(), {}],
          ['a tenant of the node', alice, {}],
          ['an administrator', root, {}],
          ['a wrong token', t.as(), { [TOKEN_HEADER]: token.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')) }],
          ['an empty token', t.as(), { [TOKEN_HEADER]: '' }],
        ] as const) {
          const r = await call('GET', log, undefined, { query, headers });
          assert.equal(r.status, 401, `${who}: ${r.status} ${r.text}`);
          assert.equal(r.body.type, 'AuthorizationError');
          const typed = await call('POST', `/_hil/internal/console/${node.id}/input`, undefined, { rawBody: 'x', headers: { ...headers, 'content-type': 'application/octet-stream' } });
          assert.equal(typed.status, 401, `${who} typing: ${typed.status}`);
        }

        const relayed = await t.as()('GET', log, undefined, { query, headers: { [TOKEN_HEADER]: token } });
        assert.equal(relayed.status, 200);
        assert.match(relayed.text, /^0\n1\n/, "the holder's rolling log");
        assert.equal((await t.as()('GET', '/_hil/internal/console/999999', undefined, { headers: { [TOKEN_HEADER]: token } })).status, 404, 'a console this process does not hold');
        const paths = Object.keys((await root('GET', '/openapi.json')).body.paths);
        assert.equal(paths.some((p) => p.includes('_hil')), false, 'not in the OpenAPI document');
      }));
  });
}
