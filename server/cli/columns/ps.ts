/**
 * The columns of `capstan ps`. Field names follow docker ps where the meaning is the same
 * (.ID, .Image, .RunningFor shown as CREATED, .CreatedAt, .Labels); .Name, .Source and .Cgroup
 * are capstan's, since a capstan "container" can be any cgroup on the host.
 */
import type { ContainerInfo } from '../../model';
import { humanDuration } from '../format/units';
import { UNKNOWN, columnRegistry, truncateId, type Column, type ColumnRegistry } from './column';

export interface PsRow {
  info: ContainerInfo;
}

export const DEFAULT_PS_TABLE_FORMAT = 'table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Runtime}}\t{{.Cgroup}}\t{{.RunningFor}}';

const pad2 = (n: number): string => String(n).padStart(2, '0');

/**
 * Go's time.Time.String() for a whole-second local time: "2024-05-01 09:30:00 +0200 CEST".
 * JavaScript only knows some zone abbreviations; others print as e.g. "GMT+2".
 */
export function goTimeString(ms: number): string {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  const offsetMinutes = -d.getTimezoneOffset();
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  const zone =
    new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName')?.value ?? '';
  const date = `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
  const time = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  return `${date} ${time} ${sign}${pad2(Math.floor(abs / 60))}${pad2(abs % 60)} ${zone}`.trimEnd();
}

export const PS_COLUMNS: readonly Column<PsRow>[] = [
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

export const PS_COLUMN_REGISTRY: ColumnRegistry<PsRow> = columnRegistry(PS_COLUMNS);
