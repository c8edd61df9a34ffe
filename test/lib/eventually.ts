// Awaiting a condition instead of sleeping: polls until the check passes or the deadline ends, then fails
// with the last error, so a slow service reads as a clear failure rather than a flaky one.

export async function eventually<T>(
  check: () => Promise<T>,
  {
    timeoutMs = 30_000,
    intervalMs = 100,
    what = 'condition',
  }: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : String(last);
      throw new Error(`${what} not reached within ${timeoutMs} ms; last attempt: ${detail}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
