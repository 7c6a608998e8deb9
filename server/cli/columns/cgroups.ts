/**
 * The columns of `capstan cgroups`: every cgroup the collector tracks, with its owner. Field names
 * follow docker ps where the meaning is the same (.ID, .Image, .RunningFor shown as CREATED,
 * .CreatedAt, .Labels); .Name, .Runtime (.Source) and .Cgroup are capstan's.
 */
import type { ContainerInfo } from '../../model';
import { humanDuration } from '../format/units';
import { UNKNOWN, columnRegistry, goTimeString, truncateId, type Column, type ColumnRegistry } from './column';

export interface CgroupRow {
  info: ContainerInfo;
}

export const DEFAULT_CGROUPS_TABLE_FORMAT = 'table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Runtime}}\t{{.Cgroup}}\t{{.RunningFor}}';

export const CGROUP_COLUMNS: readonly Column<CgroupRow>[] = [
  {
    field: 'ID',
    header: 'CONTAINER ID',
    description: 'Container ID (12 characters unless --no-trunc)',
    format: (row, options) => (options.trunc ? truncateId(row.info.id) : row.info.id),
  },
  { field: 'Name', header: 'NAME', description: 'Container name', format: (row) => row.info.name || UNKNOWN },
  // An empty image means none applies (a plain cgroup), which is not the same as unknown.
  { field: 'Image', header: 'IMAGE', description: 'Image reference, empty for plain cgroups', format: (row) => row.info.image },
  {
    field: 'Runtime',
    header: 'RUNTIME',
    description: 'Who owns it: capstan, docker, podman, kubernetes, systemd or raw',
    format: (row) => row.info.source,
  },
  // The earlier name of the same column, kept for templates written against it.
  { field: 'Source', header: 'SOURCE', description: 'Same as .Runtime', format: (row) => row.info.source },
  { field: 'Cgroup', header: 'CGROUP', description: 'Cgroup path relative to the hierarchy root', format: (row) => row.info.cgroupPath },
  {
    field: 'RunningFor',
    header: 'CREATED',
    description: 'Time since creation ("5 minutes ago")',
    format: (row, options) => {
      const created = row.info.createdAtMs;
      if (created === undefined) return UNKNOWN;
      // docker keeps whole seconds (time.Unix(created, 0)), so elapsed time is measured from there.
      return humanDuration(options.nowMs - Math.floor(created / 1000) * 1000) + ' ago';
    },
  },
  {
    field: 'CreatedAt',
    header: 'CREATED AT',
    description: 'Creation time',
    format: (row) => (row.info.createdAtMs === undefined ? UNKNOWN : goTimeString(row.info.createdAtMs)),
  },
  {
    field: 'Labels',
    header: 'LABELS',
    description: 'Labels as k=v,k=v',
    format: (row) =>
      Object.keys(row.info.labels ?? {})
        .sort()
        .map((k) => `${k}=${row.info.labels[k]}`)
        .join(','),
  },
];

export const CGROUP_COLUMN_REGISTRY: ColumnRegistry<CgroupRow> = columnRegistry(CGROUP_COLUMNS);
