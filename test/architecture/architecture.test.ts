/**
 * The rules of test/architecture/layers.ts and ./checker.ts hold over the real
 * src/. `npm run check:architecture` prints the same list.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { checkArchitecture, formatViolation } from './checker.ts';
import { LAYERS } from './layers.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** The units a table entry lets its unit import. */
function allowedBy(unit: string): string[] {
  const allowed = LAYERS[unit];
  const units = Object.keys(LAYERS).filter((other) => other !== unit);
  return 'everyUnitExcept' in allowed ? units.filter((other) => !allowed.everyUnitExcept.includes(other)) : [...allowed];
}

describe('architecture', () => {
  it('the layer table names only its own units, and lets no unit reach back to itself', () => {
    for (const unit of Object.keys(LAYERS)) {
      const allowed = LAYERS[unit];
      for (const named of 'everyUnitExcept' in allowed ? allowed.everyUnitExcept : allowed) {
        assert.ok(Object.hasOwn(LAYERS, named), `${unit} names ${named}, which is not in the table`);
      }
    }
    // The table itself must be a ladder: an allowed cycle would be a unit-cycle waiting to happen.
    const reachable = (from: string, seen = new Set<string>()): Set<string> => {
      for (const next of allowedBy(from)) if (!seen.has(next)) reachable(next, seen.add(next));
      return seen;
    };
    for (const unit of Object.keys(LAYERS)) assert.ok(!reachable(unit).has(unit), `the table lets ${unit} reach itself`);
  });

  it('src/ breaks none of the rules', () => {
    const violations = checkArchitecture(ROOT);
    assert.equal(violations.length, 0, `${violations.length} violations:\n${violations.map(formatViolation).join('\n')}`);
  });
});
