import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { loadConfig } from '../../src/config/config.ts';
import { settingsFrom } from '../../src/config/settings.ts';

describe('settings from the configuration', () => {
  it('converts every unit once: seconds to ms, KiB and MiB to bytes, paths resolved', () => {
    const s = settingsFrom(loadConfig({ env: { HIL_DATA_DIR: 'data-x' } }));
    assert.equal(s.databaseUrl, `sqlite:${resolve('data-x', 'hil.db')}`);
    assert.deepEqual(s.listen, { host: '127.0.0.1', port: 5000 });
    assert.deepEqual(s.auth, { backend: 'database', requireAuthentication: true, cacheMs: 60_000, refreshMs: 1000, keystone: undefined, oidc: undefined });
    assert.equal(s.worker.actionTimeoutMs, 30_000);
    assert.deepEqual(s.obm, { timeoutMs: 15_000, maxConcurrent: 16, retries: 1, consoleLogBytes: 256 * 1024 });
    assert.equal(s.images.maxFileBytes, 1024 * 1024 * 1024);
    assert.equal(s.images.dir, resolve('data-x', 'blobs'));
    assert.equal(s.upstream, undefined);
    assert.equal(s.provisioning, undefined);
    assert.equal(s.maintenance, undefined);
    assert.equal(s.shutdownGraceMs, 10_000);
    assert.deepEqual(s.metrics, { requireAuth: false, listen: undefined });
    assert.deepEqual(settingsFrom(loadConfig({ env: { HIL_METRICS_LISTEN: '[::1]:9100' } })).metrics.listen, { host: '::1', port: 9100 });
  });

  it('has an upstream and provisioning only when they are configured, in ms', () => {
    const s = settingsFrom(
      loadConfig({
        env: {
          HIL_UPSTREAM_ENDPOINT: 'http://base:5000',
          HIL_UPSTREAM_USERNAME: 'u',
          HIL_UPSTREAM_PASSWORD: 'p',
          HIL_UPSTREAM_PROJECT: 'reseller',
          HIL_PROVISIONING: '1',
          HIL_PROVISIONING_URL: 'http://10.0.0.1',
          HIL_PROVISIONING_NETWORK: 'prov',
        },
      }),
    );
    assert.equal(s.network.allocator, 'hil');
    assert.deepEqual(s.upstream, { endpoint: 'http://base:5000', credentials: { username: 'u', password: 'p' }, project: 'reseller', timeoutMs: 30_000, minFree: 0, maxFree: undefined, onDemand: false, rebalanceMs: 60_000 });
    assert.equal(s.provisioning?.bootTimeoutMs, 300_000);
    assert.equal(s.provisioning?.returnTimeoutMs, 30_000);
    assert.equal(s.provisioning?.network, 'prov');
  });
});
