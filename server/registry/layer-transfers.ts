/** What a pull and a push share about moving layers: docker's short layer IDs and a bounded number of transfers at once. */

/** `sha256:0123456789ab…` → `0123456789ab`: the 12 hex docker names a layer by in its progress lines. */
export function shortLayerId(digest: string): string {
  const colon = digest.indexOf(':');
  return digest.slice(colon + 1, colon + 13);
}

/**
 * Runs `work` over `items`, at most `limit` at once, in order of start. The first failure stops
 * new starts; the ones running finish, then it is thrown.
 */
export async function inParallel<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && failure === undefined) {
      const index = next++;
      try {
        await work(items[index]!, index);
      } catch (error) {
        failure ??= error;
      }
    }
  });
  await Promise.all(runners);
  if (failure !== undefined) throw failure;
}
