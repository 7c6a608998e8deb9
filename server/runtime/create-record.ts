/**
 * What a checked create request becomes: the ContainerRecord saved as spec.json, with docker's
 * rules for merging the image's defaults (entrypoint, cmd, env, user, working directory) and for
 * memory+swap. No I/O: the host facts it needs (name taken, swap accounting, cgroup parent) are
 * asked through `host`, so the rules read in one place.
 */
import type { CgroupPath } from '../model';
import { RuntimeError } from './errors';
import type { ImageRef } from './filesystems';
import { generateContainerName, newContainerId } from './names';
import type { CreateOptions } from './request';
import { nowRfc3339 } from './runtime-state';
import type { ContainerMount, ContainerRecord } from './types';
import { ZERO_TIME } from './types';

/** docker's defaults for a new container's environment. */
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface RecordHost {
  isNameTaken(name: string): boolean;
  canLimitSwap(): boolean;
  cgroupPathOf(id: string): CgroupPath;
}

export function buildRecord(request: CreateOptions, image: ImageRef | undefined, warnings: string[], host: RecordHost, mounts: ContainerMount[] = []): ContainerRecord {
  const defaults = image?.defaults ?? {};
  const entrypoint = request.entrypoint ?? defaults.entrypoint ?? [];
  // docker: a new entrypoint drops the image's cmd; a cmd given replaces it.
  const cmd = request.cmd !== undefined && request.cmd.length > 0 ? request.cmd : request.entrypoint !== undefined ? [] : (defaults.cmd ?? []);
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw new RuntimeError(400, 'no_command', 'No command specified');

  const id = newContainerId();
  const name = request.name ?? generateContainerName((candidate) => host.isNameTaken(candidate));
  const hostname = request.hostname ?? id.slice(0, 12);
  const env = mergeEnv([DEFAULT_PATH, ...(defaults.env ?? [])], request.env);
  if (request.tty && !env.some((entry) => entry.startsWith('TERM='))) env.push('TERM=xterm');

  const limits = { ...request.limits };
  if (limits.memoryBytes > 0 && !request.memorySwapGiven) {
    // docker: memory+swap defaults to twice the memory where swap can be limited.
    if (host.canLimitSwap()) limits.memorySwapBytes = limits.memoryBytes * 2;
    else warnings.push('Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.');
  }
  return {
    version: 1,
    id,
    name,
    created: nowRfc3339(),
    cgroupPath: host.cgroupPathOf(id),
    config: {
      image: image?.reference ?? '',
      imageId: image?.id ?? '',
      args,
      entrypoint,
      cmd,
      env,
      workingDir: request.workingDir ?? defaults.workingDir ?? '',
      user: request.user ?? defaults.user ?? '',
      hostname,
      tty: request.tty,
      openStdin: request.openStdin,
      labels: request.labels,
    },
    hostConfig: {
      limits,
      portBindings: request.portBindings,
      restartPolicy: request.restartPolicy,
      autoRemove: request.autoRemove,
      securityOpt: request.securityOpt,
      capAdd: request.capAdd,
      capDrop: request.capDrop,
      groupAdd: request.groupAdd,
      mounts,
    },
    state: {
      status: 'created',
      pid: 0,
      startTimeTicks: 0,
      shimPid: 0,
      startedAt: ZERO_TIME,
      finishedAt: ZERO_TIME,
      exitCode: 0,
      oomKilled: false,
      error: '',
      restartCount: 0,
      manuallyStopped: false,
      boundPorts: [],
    },
  };
}

/** docker's -e handling: later entries replace earlier ones with the same key. */
export function mergeEnv(base: readonly string[], overrides: readonly string[]): string[] {
  const merged = new Map<string, string>();
  for (const entry of [...base, ...overrides]) merged.set(entry.split('=', 1)[0]!, entry);
  return [...merged.values()];
}
