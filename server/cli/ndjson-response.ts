/**
 * The agent's streamed answers (import, load and pull progress) are NDJSON over a plain
 * http.IncomingMessage: one JSON document per line, the last one perhaps without its newline.
 */
import type * as http from 'node:http';

/** Calls onLine for each line as it arrives, then onEnd once the response has ended. */
export function readNdjsonLines(response: http.IncomingMessage, onLine: (line: string) => void, onEnd: () => void, onError: (error: Error) => void): void {
  let buffer = '';
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => {
    buffer += chunk;
    let newline: number;
    try {
      while ((newline = buffer.indexOf('\n')) !== -1) {
        onLine(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
      }
    } catch (error) {
      // A throw here would be uncaught (an event handler): in the agent, which runs served
      // commands, that would end the agent. It fails the command instead.
      response.destroy();
      onError(error as Error);
    }
  });
  response.on('error', onError);
  response.on('end', () => {
    try {
      onLine(buffer);
      onEnd();
    } catch (error) {
      onError(error as Error);
    }
  });
}
