/** The agent's live event stream (GET /api/v1/events without since/until: NDJSON until the client leaves). */
import type { ExecutionContext } from 'ava';
import type { CapstanEvent } from '../../server/events';

/**
 * Opens the stream with `filter` (e.g. `event=oom`) and calls `onEvent` for each event as it
 * arrives; resolves once the response has started. The stream is closed at the end of the test.
 */
export async function streamEvents(t: ExecutionContext, agentUrl: string, token: string, filter: string, onEvent: (event: CapstanEvent) => void): Promise<void> {
  const controller = new AbortController();
  t.teardown(() => controller.abort());
  const response = await fetch(`${agentUrl}/api/v1/events?filter=${encodeURIComponent(filter)}`, {
    headers: { authorization: `Bearer ${token}` },
    signal: controller.signal,
  });
  if (response.status !== 200) throw new Error(`GET /api/v1/events: ${response.status} ${await response.text()}`);
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          onEvent(JSON.parse(buffer.slice(0, newline)) as CapstanEvent);
          buffer = buffer.slice(newline + 1);
        }
      }
    } catch {
      // Aborted at teardown.
    }
  })();
}
