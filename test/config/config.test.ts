import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, databaseUrl, loadConfig, parseListen } from '../../src/config/config.ts';
import { settingsFrom } from '../../src/config/settings.ts';

function file(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'hil-cfg-'));
  const path = join(dir, 'hil.toml');
  writeFileSync(path, text);
  return path;
}

describe('configuration', () => {
  it('defaults to an SQLite file in the data directory, database auth, VLANs 1001-1040', () => {
    const c = loadConfig({ env: {} });
    assert.equal(c.auth.backend, 'database');
    assert.equal(c.network.vlans, '1001-1040');
    assert.match(databaseUrl(c), /^sqlite:\/.*\.hil-data\/hil\.db$/);
    assert.deepEqual(parseListen(c.server.listen), { host: '127.0.0.1', port: 5000 });
  });

  it('reads the documented example file unchanged', () => {
    const c = loadConfig({ file: 'hil.example.toml', env: {} });
    assert.equal(c.server.listen, '127.0.0.1:5000');
  });

  it('environment variables override the file', () => {
    const path = file('[server]\nlisten = "127.0.0.1:6000"\n[auth]\nbackend = "database"\n');
    const c = loadConfig({
      file: path,
      env: { HIL_LISTEN: '0.0.0.0:7000', HIL_AUTH: 'null', HIL_DATABASE_URL: 'postgres://h/db', HIL_VLAN_POOL: '10-20' },
    });
    assert.equal(c.server.listen, '0.0.0.0:7000');
    assert.equal(c.auth.backend, 'null');
    assert.equal(databaseUrl(c), 'postgres://h/db');
    assert.equal(c.network.vlans, '10-20');
  });

  it('serves /metrics on the API port, open, with a 10 s shutdown grace, unless told otherwise (HIL_METRICS_LISTEN too)', () => {
    const d = loadConfig({ env: {} });
    assert.deepEqual([d.metrics, d.server.shutdown_grace_seconds], [{ require_auth: false }, 10]);
    const c = loadConfig({ file: file('[metrics]\nrequire_auth = true\nlisten = "127.0.0.1:9100"\n[server]\nshutdown_grace_seconds = 2.5\n'), env: { HIL_METRICS_LISTEN: '0.0.0.0:9200' } });
    assert.deepEqual([c.metrics, c.server.shutdown_grace_seconds], [{ require_auth: true, listen: '0.0.0.0:9200' }, 2.5]);
  });

  it('rejects unknown keys, wrong types and bad values with a message naming them', () => {
    const bad: Array<[string, RegExp]> = [
      ['[server]\nlisen = "x"\n', /^unknown configuration key "server\.lisen"; did you mean "server\.listen"\? \(in \/.*\.toml\)$/],
      ['[sever]\nlisten = "x"\n', /^unknown configuration section \[sever\]; did you mean "server"\?/],
      ['[nonsense]\n', /^unknown configuration section \[nonsense\]; valid sections are server, database, auth,/],
      ['[images.rbd]\npol = "p"\n', /^unknown configuration key "images\.rbd\.pol"; did you mean "images\.rbd\.pool"\?/],
      ['[server]\nlisten = 5\n', /^configuration key server\.listen must be string \(in /],
      ['[log]\nlevel = "loud"\n', /^configuration key log\.level must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent"/],
      ['[log]\nformat = "xml"\n', /^configuration key log\.format must be one of "auto", "json", "pretty"/],
      ['[auth]\nrequire_authentication = "yes"\n', /require_authentication/],
      ['[network]\nvlans = "5000-5001"\n', /network.vlans/],
      ['[server]\nlisten = "nohost"\n', /HOST:PORT/],
      ['[maintenance]\nproject = "m"\n', /both/],
      ['this is not toml', /^the configuration file \/.* is not valid TOML: line 1, column \d+: [^\n]+$/],
      ['[server\nlisten = "x"\n', /^the configuration file \/.* is not valid TOML: line 1, column 8: [^\n]+$/],
      ['[upstream]\nendpoint = "http://base:5000"\n', /upstream needs endpoint, username, password and project/],
      ['[upstream]\nendpoint = "base:5000"\nusername = "u"\npassword = "p"\nproject = "r"\n', /upstream.endpoint must be an http/],
      ['[network]\nallocator = "hil"\n', /needs an \[upstream\]/],
      ['[upstream]\nmin_free = 3\nmax_free = 2\n', /max_free must not be below/],
      ['[provisioning]\nenabled = true\nnetwork = "p"\n', /provisioning.url must be set/],
      ['[provisioning]\nenabled = true\nurl = "http://10.0.0.1/fpbl"\nnetwork = "p"\n', /provisioning.url must be set/],
      ['[provisioning]\nenabled = true\nurl = "http://10.0.0.1"\n', /provisioning.network/],
      ['[provisioning]\nenabled = true\nurl = "http://10.0.0.1"\nnetwork = "p"\nlisten = "/tmp/x.sock"\n', /HOST:PORT or unix:/],
      ['[provisioning]\nreturn_timeout_seconds = 0\n', /return_timeout_seconds/],
      ['[metrics]\nlisten = "9100"\n', /metrics.listen "9100" must be HOST:PORT/],
      ['[metrics]\nlisten = "127.0.0.1:5000"\n', /metrics.listen must differ from server.listen/],
      ['[metrics]\nrequire_auth = "yes"\n', /require_auth/],
      ['[server]\nshutdown_grace_seconds = -1\n', /shutdown_grace_seconds/],
      ['[keystone]\nproject_mapping = "uuid"\n', /keystone\.project_mapping must be one of "id", "name", "table"/],
      ['[keystone]\nurl = "keystone:5000"\n', /keystone\.url/],
      ['[oidc]\nalgorithms = ["none"]\n', /oidc\.algorithms/],
      ['[oidc]\nalgorithms = ["HS256"]\n', /oidc\.algorithms/],
      ['[oidc]\nalgorithms = []\n', /oidc\.algorithms/],
      ['[upstream]\nendpoint = "http://b:1"\nproject = "r"\noidc_issuer = "https://idp"\n', /upstream by OpenID Connect needs oidc_issuer, oidc_client_id and oidc_client_secret/],
      ['[upstream]\nendpoint = "http://b:1"\nproject = "r"\nusername = "u"\npassword = "p"\noidc_issuer = "https://idp"\noidc_client_id = "c"\noidc_client_secret = "s"\n', /username\/password or oidc_\*, not both/],
      ['[upstream]\nproject = "r"\noidc_issuer = "https://idp"\noidc_client_id = "c"\noidc_client_secret = "s"\n', /upstream needs endpoint and project .* besides its oidc_\* credentials/],
      ['[upstream]\nendpoint = "http://b:1"\nproject = "r"\nusername = "u"\npassword = "p"\noidc_resource = "https://b"\n', /upstream by OpenID Connect needs/],
      ['[upstream]\nendpoint = "http://b:1"\nproject = "r"\noidc_issuer = "http://idp.example"\noidc_client_id = "c"\noidc_client_secret = "s"\n', /upstream\.oidc_issuer must be an https URL \(plain http only on loopback\)/],
      ['[auth]\nbackend = "keystone"\n[keystone]\nurl = "http://keystone.example:5000/v3"\nusername = "hil"\npassword = "p"\n', /keystone\.url must be an https URL/],
      ['[auth]\nbackend = "oidc"\n[oidc]\nissuer = "http://idp.example"\naudience = "hil"\n', /oidc\.issuer must be an https URL/],
    ];
    for (const [text, msg] of bad) assert.throws(() => loadConfig({ file: file(text), env: {} }), (e: Error) => e instanceof ConfigError && msg.test(e.message), text);
    assert.throws(() => loadConfig({ env: { HIL_AUTH: 'keystone' } }), /auth.backend "keystone" needs keystone.url, keystone.username and keystone.password/);
    assert.throws(() => loadConfig({ env: { HIL_AUTH: 'oidc' } }), /auth.backend "oidc" needs oidc.issuer and oidc.audience/);
    assert.throws(() => loadConfig({ env: { HIL_AUTH: 'ldap' } }), /HIL_AUTH must be one of database, null, keystone, oidc, not "ldap"/);
    assert.throws(() => loadConfig({ env: { HIL_LOG_LEVEL: 'loud' } }), (e: Error) => e instanceof ConfigError && e.message === 'HIL_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, not "loud"');
    assert.throws(() => loadConfig({ env: { HIL_LOG_FORMAT: 'xml' } }), /HIL_LOG_FORMAT must be one of auto, json, pretty/);
    assert.throws(() => loadConfig({ file: '/nonexistent/hil.toml', env: {} }), (e: Error) => e instanceof ConfigError && e.message === 'cannot read the configuration file /nonexistent/hil.toml: no such file');
  });

  it('reads the keystone and oidc sections, with their secrets from the environment', () => {
    const k = loadConfig({
      file: file('[auth]\nbackend = "keystone"\n[keystone]\nurl = "https://ks:5000/v3/"\nusername = "hil"\nproject_mapping = "table"\n'),
      env: { HIL_KEYSTONE_PASSWORD: 'ks-secret' },
    });
    const ks = settingsFrom(k).auth.keystone!;
    assert.deepEqual([ks.url, ks.service.username, ks.service.password, ks.projectMapping, ks.admin.project, ks.timeoutMs], ['https://ks:5000/v3', 'hil', 'ks-secret', 'table', 'admin', 5000]);
    const o = settingsFrom(loadConfig({ file: file('[auth]\nbackend = "oidc"\n[oidc]\nissuer = "https://idp"\naudience = "hil"\nroles_claim = "realm_access.roles"\n'), env: {} })).auth.oidc!;
    assert.deepEqual([o.issuer, o.audience, o.claims.roles, o.claims.projects, o.jwksCooldownMs], ['https://idp', 'hil', 'realm_access.roles', 'hil_projects', 30_000]);
    const derived = loadConfig({
      file: file('[upstream]\nendpoint = "http://base:5000"\nproject = "r"\noidc_issuer = "https://idp"\noidc_client_id = "derived"\noidc_resource = "https://base"\n'),
      env: { HIL_UPSTREAM_OIDC_CLIENT_SECRET: 'client-secret' },
    });
    assert.deepEqual(settingsFrom(derived).upstream?.credentials, { oidc: { issuer: 'https://idp', clientId: 'derived', clientSecret: 'client-secret', resource: 'https://base' } });
  });

  it("makes a derived HIL from the HIL_UPSTREAM_* variables: its networks are the base's", () => {
    const up = { HIL_UPSTREAM_ENDPOINT: 'http://127.0.0.1:5000', HIL_UPSTREAM_USERNAME: 'reseller', HIL_UPSTREAM_PASSWORD: 's3cret', HIL_UPSTREAM_PROJECT: 'reseller' };
    const c = loadConfig({ env: up });
    assert.deepEqual([c.upstream.endpoint, c.upstream.username, c.upstream.password, c.upstream.project], ['http://127.0.0.1:5000', 'reseller', 's3cret', 'reseller']);
    assert.equal(c.network.allocator, 'hil');
    assert.equal(loadConfig({ env: {} }).network.allocator, 'vlan_pool', 'no upstream: VLANs');
    assert.throws(() => loadConfig({ env: { HIL_UPSTREAM_ENDPOINT: 'http://x:1' } }), ConfigError, 'all four, or none');
    // A VLAN pool cannot work with the base's switches: refused at start, saying why.
    assert.throws(
      () => loadConfig({ env: { ...up, HIL_VLAN_POOL: '1001-1040' } }),
      (e: Error) => e instanceof ConfigError && /derived HIL .* network\.allocator must be "hil", not "vlan_pool" \(unset HIL_VLAN_POOL\)/.test(e.message),
    );
  });
});
