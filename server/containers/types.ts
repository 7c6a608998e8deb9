/**
 * The runtime-neutral containers interface: what the API, the CLI and the dashboard ask of a
 * container, whoever owns it. One implementation per owner: capstan's own runtime
 * (capstan-owner.ts) and one per engine (sources/engine/source.ts, for Docker and Podman).
 * Raw cgroups, systemd units and Kubernetes pods are watched but owned by no one capstan can ask;
 * they are not here, and their limits go through server/containers/limits.ts.
 */
import type { CgroupPath } from '../model';
import type { PsEntry } from './ps';
import type { LogQuery } from '../runtime/logs';
import type { LogLine } from '../runtime/shim-protocol';
import type { TopResult } from '../runtime/top';

/** Who runs a container. */
export type OwnerKind = 'capstan' | 'docker' | 'podman';

/** docker's State.Status values. */
export type OwnedStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** One container as its owner knows it, running or not. */
export interface OwnedContainer {
  /** 64 hex digits. */
  id: string;
  /** Without docker's leading "/". */
  name: string;
  owner: OwnerKind;
  image: string;
  status: OwnedStatus;
  /** Its cgroup, where the owner or capstan knows it (undefined for an engine container not seen yet). */
  cgroupPath?: CgroupPath;
  /** Units: milliseconds since the Unix epoch. */
  createdAtMs?: number;
  labels: Record<string, string>;
  /** The last run's exit code, once it has exited (docker's State.ExitCode). */
  exitCode?: number;
  /** Whether the kernel OOM-killed the last run (docker's State.OOMKilled). */
  oomKilled?: boolean;
}

/** What `wait` waits for (docker's conditions). */
export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

export interface ContainerOwner {
  readonly kind: OwnerKind;
  /** Every container it has, from its own state (never from the collector's last tick). */
  list(): OwnedContainer[];
  /** docker's inspect document, as the owner gives it. */
  inspect(id: string): Promise<Record<string, unknown>>;
  top(id: string, psArgs: string): Promise<TopResult>;
  logs(id: string, query: LogQuery, follow: boolean, onLine: (line: LogLine) => void, signal?: AbortSignal): Promise<void>;
  start(id: string): Promise<void>;
  /** Units: seconds (undefined: the owner's default). */
  stop(id: string, timeoutSeconds?: number): Promise<void>;
  restart(id: string, timeoutSeconds?: number): Promise<void>;
  kill(id: string, signal: string): Promise<void>;
  pause(id: string): Promise<void>;
  unpause(id: string): Promise<void>;
  /** `removeVolumes`: also the container's anonymous volumes (rm -v; capstan's own containers). */
  remove(id: string, force: boolean, removeVolumes?: boolean): Promise<void>;
  wait(id: string, condition: WaitCondition, signal?: AbortSignal): Promise<{ StatusCode: number }>;
  /**
   * `ps` rows asked of the owner now, already filtered by it (docker's filter rules; `filters` is
   * the API's JSON text, without before/since). Owners that cannot filter leave it out.
   */
  psEntries?(options: { all: boolean; size: boolean; filters: string | undefined }): Promise<PsEntry[]>;
}
