/**
 * Finds the container a user means, the way docker does: full id, name, unique id prefix; plus,
 * for raw cgroups, the cgroup path.
 */
import type { ContainerSnapshot } from '../model';
import { HttpError } from './errors';

export function resolveContainer(containers: readonly ContainerSnapshot[], reference: string): ContainerSnapshot {
  if (typeof reference !== 'string' || reference.length === 0 || reference.length > 4096) {
    throw new HttpError(400, 'invalid_reference', 'a container name, id or cgroup path is required');
  }
  const exact = containers.find(
    (c) => c.info.id === reference || c.info.name === reference || c.info.cgroupPath === reference,
  );
  if (exact) return exact;
  if (/^[0-9a-f]+$/.test(reference)) {
    const matches = containers.filter((c) => c.info.id.startsWith(reference));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) {
      throw new HttpError(400, 'ambiguous_reference', `multiple IDs found with provided prefix: ${reference}`);
    }
  }
  throw new HttpError(404, 'no_such_container', `No such container: ${reference}`);
}
