/**
 * Skipping for a missing system part, the only acceptable skip: the reason is
 * printed, and under HIL_TEST_REQUIRE_ALL (set by .ci/run) it is an error
 * instead, so CI never passes by skipping.
 */
export function skipUnless(reason: string | undefined): string | false {
  if (!reason) return false;
  if (process.env.HIL_TEST_REQUIRE_ALL) throw new Error(`required system part missing: ${reason}`);
  console.log(`# skipping: ${reason}`);
  return reason;
}
