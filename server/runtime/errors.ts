/**
 * The runtime's one error type. It carries the HTTP status the API answers with and a stable code,
 * so the router is a thin translation and the CLI prints the message as docker would.
 *
 *   400 bad input (name, image reference, flag values, limits docker refuses)
 *   404 no such container / image
 *   409 a conflict with the current state (name taken, container running or not running, port in use)
 *   500 the host refused (a syscall failed, the shim did not answer)
 */
export class RuntimeError extends Error {
  override name = 'RuntimeError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra facts for the API response (e.g. the exit code of a command that could not start). */
    readonly details: { exitCode?: number; errno?: string; path?: string } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function badRequest(code: string, message: string): RuntimeError {
  return new RuntimeError(400, code, message);
}

export function noSuchContainer(reference: string): RuntimeError {
  return new RuntimeError(404, 'no_such_container', `No such container: ${reference}`);
}

/**
 * A reference the user typed, inside one of docker's sentences: escaped (JSON without the quotes)
 * and cut to 80 characters, so it cannot garble a terminal, yet plain names read as typed.
 */
export function quoteReference(reference: string): string {
  return JSON.stringify(reference).slice(1, -1).slice(0, 80);
}

export function conflict(code: string, message: string): RuntimeError {
  return new RuntimeError(409, code, message);
}

/** A reference shown in a message: control characters escaped, long input cut, so it cannot garble a terminal. */
export function quoteInput(text: string, maxLength = 80): string {
  const cut = text.length > maxLength ? `${text.slice(0, maxLength)}…` : text;
  return JSON.stringify(cut);
}
