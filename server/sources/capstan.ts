/**
 * capstan's own containers as a source: a cgroup under the runtime's parent (`/capstan/<id>`)
 * is described with the container's name, image and labels, so `capstan stats`, `ps`, /metrics
 * and the API show names, not hashes. Asked before the raw source, which would otherwise claim it.
 */
import type { CgroupPath, ContainerInfo, NetworkInterfaceSample } from '../model';
import type { ContainerSummary } from '../runtime/types';
import type { CgroupFacts, ContainerSource } from './source';

/** What the source needs from the runtime (RuntimeManager implements it). */
export interface CapstanContainerLookup {
  byCgroupPath(cgroupPath: CgroupPath): ContainerSummary | undefined;
  /** Bytes through the container's published ports, as an interface of their own. */
  networkCounters(cgroupPath: CgroupPath): NetworkInterfaceSample | undefined;
}

export class CapstanSource implements ContainerSource {
  readonly kind = 'capstan' as const;

  constructor(private readonly runtime: CapstanContainerLookup) {}

  describe(cgroupPath: CgroupPath, facts: CgroupFacts): ContainerInfo | undefined {
    const container = this.runtime.byCgroupPath(cgroupPath);
    if (!container) return undefined;
    return {
      id: container.id,
      name: container.name,
      cgroupPath,
      image: container.image,
      source: 'capstan',
      isContainer: true,
      labels: { ...container.labels },
      createdAtMs: Number.isFinite(container.createdAtMs) ? container.createdAtMs : (facts.createdAtMs ?? Date.now()),
    };
  }

  networkCounters(cgroupPath: CgroupPath): NetworkInterfaceSample | undefined {
    return this.runtime.networkCounters(cgroupPath);
  }
}
