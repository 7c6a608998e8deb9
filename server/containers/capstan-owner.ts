/**
 * capstan's own runtime behind the containers interface: a thin adapter, since the runtime already
 * speaks docker's shapes (inspect, top, logs, lifecycle).
 */
import type { RuntimeManager } from '../runtime/manager';
import type { ContainerOwner, OwnedContainer, WaitCondition } from './types';

export class CapstanOwner implements ContainerOwner {
  readonly kind = 'capstan' as const;

  constructor(private readonly runtime: RuntimeManager) {}

  list(): OwnedContainer[] {
    return this.runtime.list().map((summary) => ({
      id: summary.id,
      name: summary.name,
      owner: 'capstan',
      image: summary.image,
      status: summary.status,
      cgroupPath: summary.cgroupPath,
      ...(Number.isFinite(summary.createdAtMs) ? { createdAtMs: summary.createdAtMs } : {}),
      labels: summary.labels,
      exitCode: summary.exitCode,
      oomKilled: summary.oomKilled,
    }));
  }

  inspect(id: string): Promise<Record<string, unknown>> {
    return Promise.resolve(this.runtime.inspect(id));
  }

  top(id: string, psArgs: string) {
    return this.runtime.top(id, psArgs);
  }

  logs(...args: Parameters<RuntimeManager['followLogs']>) {
    return this.runtime.followLogs(...args);
  }

  start(id: string) {
    return this.runtime.startContainer(id);
  }

  stop(id: string, timeoutSeconds?: number) {
    return this.runtime.stop(id, timeoutSeconds);
  }

  restart(id: string, timeoutSeconds?: number) {
    return this.runtime.restart(id, timeoutSeconds);
  }

  kill(id: string, signal: string) {
    return this.runtime.kill(id, signal);
  }

  pause(id: string) {
    return this.runtime.pause(id);
  }

  unpause(id: string) {
    return this.runtime.unpause(id);
  }

  remove(id: string, force: boolean, removeVolumes = false) {
    return this.runtime.remove(id, force, removeVolumes);
  }

  wait(id: string, condition: WaitCondition, signal?: AbortSignal) {
    return this.runtime.wait(id, condition, signal);
  }
}
