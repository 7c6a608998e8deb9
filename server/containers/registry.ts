/**
 * One place that finds a container among every owner, the way docker resolves a reference: a full
 * id, then a name, then a unique id prefix. A name two owners both use is ambiguous, and the
 * message says who has it, so the user can give the id.
 */
import { ContainerError, noSuchContainer } from './errors';
import type { ContainerOwner, OwnedContainer } from './types';

export interface ResolvedContainer {
  owner: ContainerOwner;
  container: OwnedContainer;
}

export class Containers {
  constructor(readonly owners: readonly ContainerOwner[]) {}

  /** Every container of every owner. */
  list(): Array<OwnedContainer> {
    return this.owners.flatMap((owner) => owner.list());
  }

  /** The owner that has `kind`'s containers, if it is configured. */
  owner(kind: string): ContainerOwner | undefined {
    return this.owners.find((owner) => owner.kind === kind);
  }

  /** Finds `reference`, or undefined when no owner has it. Throws ContainerError 400 when ambiguous. */
  find(reference: string): ResolvedContainer | undefined {
    if (typeof reference !== 'string' || reference.length === 0 || reference.length > 4096 || reference.includes('\0')) {
      throw new ContainerError(400, 'invalid_reference', 'a container name or id is required');
    }
    const name = reference.startsWith('/') ? reference.slice(1) : reference;
    const all = this.owners.flatMap((owner) => owner.list().map((container) => ({ owner, container })));
    const byId = all.find((entry) => entry.container.id === reference);
    if (byId) return byId;
    const byName = all.filter((entry) => entry.container.name === name);
    if (byName.length === 1) return byName[0];
    if (byName.length > 1) {
      const who = byName.map((entry) => `${entry.owner.kind} ${entry.container.id.slice(0, 12)}`).join(', ');
      throw new ContainerError(400, 'ambiguous_reference', `more than one container is named ${name} (${who}): give the id`);
    }
    if (/^[0-9a-f]+$/.test(reference)) {
      const matches = all.filter((entry) => entry.container.id.startsWith(reference));
      if (matches.length === 1) return matches[0];
      if (matches.length > 1) throw new ContainerError(400, 'ambiguous_reference', `multiple IDs found with provided prefix: ${reference}`);
    }
    return undefined;
  }

  /** Like find(), but an unknown reference is docker's 404. */
  resolve(reference: string): ResolvedContainer {
    const found = this.find(reference);
    if (!found) throw noSuchContainer(reference);
    return found;
  }
}
