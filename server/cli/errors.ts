/**
 * Errors the CLI reports as one line on stderr, without a stack trace. The message is printed
 * verbatim, so it carries its own prefix: "capstan: ..." for capstan's own failures, docker's
 * "Error response from daemon: ..." for what the agent refused.
 */
import { quoteReference } from '../runtime/errors';

export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    /** Process exit status. */
    readonly exitCode = 1,
    options?: { cause?: unknown; apiCode?: string },
  ) {
    super(message, options);
    if (options?.apiCode !== undefined) this.apiCode = options.apiCode;
  }

  /** The agent's error code ({"error":{"code"}}) when the agent refused the request. */
  readonly apiCode?: string;
}

/**
 * docker's CLI looks some containers up itself before it acts (exec, logs, port, rm) and then says
 * "Error: No such container: x" rather than the daemon's "Error response from daemon: No such
 * container: x". Any other error is returned as it is.
 */
export function clientLookupFailure(error: unknown, reference: string): unknown {
  if (!(error instanceof CliError) || error.apiCode !== 'no_such_container') return error;
  return new CliError(`Error: No such container: ${quoteReference(reference)}`, 1, { cause: error, apiCode: error.apiCode });
}
