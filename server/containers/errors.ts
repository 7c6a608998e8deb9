/**
 * Errors of the containers interface. They are the runtime's RuntimeError (an HTTP status and a
 * stable code for the API), named for the layer that raises them: engines' refusals, unknown
 * references across owners.
 */
import { quoteReference, RuntimeError } from '../runtime/errors';

export class ContainerError extends RuntimeError {
  override name = 'ContainerError';
}

/** docker's words for an unknown container (the CLI adds "Error response from daemon: "). */
export function noSuchContainer(reference: string): ContainerError {
  return new ContainerError(404, 'no_such_container', `No such container: ${quoteReference(reference)}`);
}
