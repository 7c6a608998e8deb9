/**
 * Errors the CLI reports as one line on stderr, without a stack trace. The message is printed
 * verbatim, so it carries its own prefix: "capstan: ..." for capstan's own failures, docker's
 * "Error response from daemon: ..." for what the agent refused.
 */
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
