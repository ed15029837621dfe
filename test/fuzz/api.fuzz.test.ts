/**
 * Property-based fuzzing of the whole /v0 API (issue 14), on each database:
 * thousands of generated requests, valid and invalid, for every route of
 * /openapi.json, from each caller; then the database invariants. It fails on
 * an undocumented 5xx, an error body that is not {type, msg}, a status
 * docs/errors.md does not list, a missing answer, or a broken invariant,
 * and prints the smallest request it found for each class of failure.
 *
 * Fixed seed and count by default; HIL_FUZZ_SEED=<n> or =random and
 * HIL_FUZZ_REQUESTS=<n> change them (the seed is printed either way).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { details, summary } from './report.ts';
import { runSession } from './session.ts';

const DEFAULT_SEED = 14_2024;
const seed = process.env.HIL_FUZZ_SEED === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.HIL_FUZZ_SEED ?? DEFAULT_SEED);
const requests = Number(process.env.HIL_FUZZ_REQUESTS ?? 5000);

for (const database of testDatabases()) {
  describe(`API fuzz on ${database.name}`, { skip: database.skip }, () => {
    it(`answers ${requests} generated requests cleanly and keeps the database consistent`, async (t) => {
      t.diagnostic(`seed ${seed} (HIL_FUZZ_SEED=${seed} replays this run)`);
      const report = await runSession(database, { seed, requests, shrinkClasses: 40, shrinkMs: 5000 });
      t.diagnostic(summary(report));
      const text = details(report);
      if (report.failures.size === 0 && report.violations.length === 0) {
        if (text) t.diagnostic(text);
        return;
      }
      assert.fail(`${summary(report)}\n${text}\n\nRerun: HIL_FUZZ_SEED=${seed} HIL_FUZZ_REQUESTS=${requests} npx node --disable-warning=ExperimentalWarning --test --test-global-setup=test/global-setup.ts test/fuzz/api.fuzz.test.ts`);
    });
  });
}
