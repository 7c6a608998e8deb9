/**
 * One of capstan's containers as a `ps` row: docker's Summary from the container's record (what
 * the runtime holds in memory now, never the collector's last tick). Pure: no I/O.
 */
import { commandText, statusText, type PsEntry, type PsPort, type PsSummary } from '../containers/ps';
import type { ContainerRecord } from './types';
import { inspectMounts } from './volumes/resolve';

/** The row of `record`; `running` says whether its process is there (ports are listed only then). */
export function capstanPsEntry(record: ContainerRecord, running: boolean, nowMs: number): PsEntry {
  const { config, state } = record;
  const createdMs = Date.parse(record.created);
  // docker lists bound ports while the container runs, and none once it has stopped.
  const ports: PsPort[] = running ? state.boundPorts.map((binding) => ({ IP: binding.hostIp, PrivatePort: binding.containerPort, PublicPort: binding.hostPort, Type: binding.protocol })) : [];
  const started = state.startedAt !== '' && !state.startedAt.startsWith('0001-01-01');
  return {
    summary: {
      Id: record.id,
      Names: [`/${record.name}`],
      Image: config.image,
      ImageID: config.imageId,
      Command: commandText(config.args),
      Created: Math.floor(createdMs / 1000),
      Ports: ports,
      Labels: { ...config.labels },
      State: state.status,
      Status: statusText(state, nowMs),
      // capstan's containers have a network namespace of their own with only lo: docker's "none".
      HostConfig: { NetworkMode: 'none' },
      NetworkSettings: { Networks: { none: {} } },
      Mounts: inspectMounts(record.hostConfig?.mounts ?? []) as PsSummary['Mounts'],
      Owner: 'capstan',
    },
    createdMs: Number.isFinite(createdMs) ? createdMs : 0,
    ...(started ? { exitCode: state.exitCode } : {}),
    started,
  };
}
