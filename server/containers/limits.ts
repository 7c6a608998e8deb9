/**
 * A limit change goes to the container's owner:
 * - capstan's own containers, raw cgroups and systemd units: capstan writes the cgroup files
 *   (LimitService: Docker's validation, runc's order, read-back, rollback);
 * - Docker's and Podman's containers: the engine's update API, in its own field names, so the
 *   engine records the change (docker inspect, the next restart); then the files are read back;
 * - Kubernetes pods: refused, the kubelet owns them.
 * Capstan never writes a cgroup file another owner manages; when that owner cannot be asked the
 * update is refused and the message says why.
 */
import { LimitError, type LimitService, type LimitUpdateResult } from '../limits';
import { toDockerUpdateBody, toLibpodResources } from '../limits/engine-body';
import type { ContainerInfo } from '../model';
import type { EngineSource } from '../sources/engine/source';
import { ContainerError } from './errors';

export interface OwnedLimitsOptions {
  service: LimitService;
  /** The engine sources by kind ("docker", "podman"), when configured. */
  engines: ReadonlyMap<string, EngineSource>;
}

export class OwnedLimits {
  constructor(private readonly options: OwnedLimitsOptions) {}

  get service(): LimitService {
    return this.options.service;
  }

  async update(container: ContainerInfo, body: unknown, options: { principal: string }): Promise<LimitUpdateResult> {
    switch (container.source) {
      case 'docker':
      case 'podman':
        return this.throughEngine(container, body, options);
      case 'kubernetes':
        throw new LimitError(
          409,
          'owned_by_kubelet',
          `${container.name} is a Kubernetes pod's cgroup: the kubelet owns its limits (change the pod's resources); capstan never writes cgroup files another owner manages`,
        );
      default:
        return this.options.service.update(container, body, options);
    }
  }

  private async throughEngine(container: ContainerInfo, body: unknown, options: { principal: string }): Promise<LimitUpdateResult> {
    const engine = this.options.engines.get(container.source);
    const label = container.source === 'docker' ? 'Docker' : 'Podman';
    if (!engine) {
      throw new LimitError(
        409,
        'owner_not_configured',
        `${container.name} is a ${label} container, and this agent does not talk to ${label} (see --${container.source}-host): its limits are changed only through ${label}, never behind its back`,
      );
    }
    if (!engine.up || !engine.describeContainer(container.id)) {
      throw new LimitError(
        503,
        'owner_unreachable',
        `${container.name} is a ${label} container, and the ${label} engine at ${engine.address} cannot be asked right now: its limits are changed only through ${label}, never behind its back`,
      );
    }
    try {
      return await this.options.service.updateThroughOwner(container, body, options, label, async (request, resolved) => {
        if (request.restartPolicy !== undefined && container.source === 'podman') {
          throw new LimitError(
            409,
            'unsupported_by_owner',
            `${container.name} is a Podman container: Podman 4.3's update API (POST /libpod/containers/{id}/update) changes resources only, not the restart policy; nothing was changed (use podman itself, or Podman 5's podman update --restart)`,
            { flag: '--restart' },
          );
        }
        const throttles = { deviceReadBps: resolved.deviceReadBps, deviceWriteBps: resolved.deviceWriteBps, deviceReadIops: resolved.deviceReadIops, deviceWriteIops: resolved.deviceWriteIops };
        // The swap Docker has stored decides how a memory-only update is sent (engine-body.ts).
        const stored = request.memory !== undefined && request.memorySwap === undefined ? (((await engine.inspect(container.id))['HostConfig'] ?? {}) as { MemorySwap?: unknown }) : {};
        return engine.update(container.id, toDockerUpdateBody(request, stored), toLibpodResources(request, stripUndefined(throttles)));
      });
    } catch (error) {
      // The engine's refusal, in its own words and with its status.
      if (error instanceof ContainerError) throw new LimitError(error.status, error.code, error.message);
      throw error;
    }
  }
}

function stripUndefined<T extends object>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
