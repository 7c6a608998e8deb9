/** A streamed request's refusal (import's upload, save's download), read as the JSON client reads it. */
import type * as http from 'node:http';
import { CliError } from '../errors';

/** The agent's refusal (one JSON error document) as docker's "Error response from daemon: …" */
export function refusalOf(response: http.IncomingMessage): Promise<CliError> {
  return new Promise((resolve) => {
    let text = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => (text += chunk));
    response.on('end', () => {
      let message = `${response.statusCode} ${response.statusMessage ?? ''}`.trimEnd();
      let apiCode: string | undefined;
      try {
        const error = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
        if (error?.message) message = error.message;
        apiCode = error?.code;
      } catch {
        // keep the status line
      }
      resolve(new CliError(`Error response from daemon: ${message}`, 1, apiCode ? { apiCode } : {}));
    });
  });
}
