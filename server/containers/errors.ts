/**
 * Errors of the containers interface, with the HTTP status the API answers with (the same shape
 * as the runtime's RuntimeError, so one translation serves both).
 */
export class ContainerError extends Error {
  override name = 'ContainerError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: { exitCode?: number; errno?: string; path?: string } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** docker's words for an unknown container (the CLI adds "Error response from daemon: "). */
export function noSuchContainer(reference: string): ContainerError {
  return new ContainerError(404, 'no_such_container', `No such container: ${JSON.stringify(reference).slice(1, -1).slice(0, 80)}`);
}
