/**
 * One behaviour of a driver contract suite as a test, and how a row marks a
 * behaviour its driver does not show today: the behaviour's test still runs
 * unchanged and must fail, its failure printed as a diagnostic. When the
 * driver is fixed the test fails, saying to drop the mark, so a row never
 * keeps an excuse it no longer needs (a plain todo would pass unnoticed).
 */
import assert from 'node:assert/strict';
import { it, type TestContext } from 'node:test';

export function behaviourTest(id: string, title: string, deviation: string | undefined, fn: (t: TestContext) => Promise<void> | void): void {
  if (!deviation) {
    it(`(${id}) ${title}`, fn);
    return;
  }
  it(`(${id}) ${title} [known deviation]`, async (t) => {
    t.diagnostic(`known deviation: ${deviation}`);
    try {
      await fn(t);
    } catch (err) {
      t.diagnostic(`fails as expected: ${(err instanceof Error ? err.message : String(err)).split('\n').filter(Boolean).join('; ')}`);
      return;
    }
    assert.fail(`the driver now shows "${id}": remove its deviation from the row`);
  });
}
