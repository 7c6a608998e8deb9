/**
 * The columns of `capstan stats`, with docker stats' field names, headers and number formats
 * (cli/command/container/formatter_stats.go), plus capstan's CPUThrottled. The agent computes
 * the numbers (ContainerStats); these only format them. An unknown value is "--", never 0.
 */
import type { ContainerInfo, ContainerStats } from '../../model';
import { formatF } from '../format/gofloat';
import { bytesSize, humanSizeWithPrecision } from '../format/units';
import { UNKNOWN, columnRegistry, truncateId, type Column, type ColumnRegistry } from './column';

/** One line of `capstan stats`. */
export interface StatsRow {
  info: ContainerInfo;
  /** null until the agent has a sample for this cgroup. */
  stats: ContainerStats | null;
  /** What the user typed to name this container, when they named it. */
  query?: string;
}

/** docker's default stats table. */
export const DEFAULT_STATS_TABLE_FORMAT =
  'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';

/** docker's formatPercentage: %.2f%%. */
export function formatPercent(value: number | undefined): string {
  return value === undefined ? UNKNOWN : formatF(value, 2) + '%';
}

/** "a / b" where either side may be unknown; when both are, docker's single "--" (or "-- / --"). */
function pair(a: number | undefined, b: number | undefined, format: (n: number) => string, bothUnknown: string): string {
  if (a === undefined && b === undefined) return bothUnknown;
  return (a === undefined ? UNKNOWN : format(a)) + ' / ' + (b === undefined ? UNKNOWN : format(b));
}

const decimal3 = (bytes: number): string => humanSizeWithPrecision(bytes, 3);

function stat<K extends keyof ContainerStats>(row: StatsRow, key: K): ContainerStats[K] | undefined {
  return row.stats === null ? undefined : row.stats[key];
}

export const STATS_COLUMNS: readonly Column<StatsRow>[] = [
  {
    field: 'ID',
    header: 'CONTAINER ID',
    description: 'Container ID (12 characters unless --no-trunc)',
    format: (row, options) => (options.trunc ? truncateId(row.info.id) : row.info.id),
  },
  {
    field: 'Name',
    header: 'NAME',
    description: 'Container name',
    format: (row) => row.info.name || UNKNOWN,
  },
  {
    field: 'Container',
    header: 'CONTAINER',
    description: 'Name or ID as given on the command line (else the name)',
    format: (row) => row.query ?? (row.info.name || UNKNOWN),
  },
  {
    field: 'CPUPerc',
    header: 'CPU %',
    description: 'CPU use: 100% is one CPU',
    format: (row) => formatPercent(stat(row, 'cpuPercent')),
  },
  {
    field: 'MemUsage',
    header: 'MEM USAGE / LIMIT',
    description: 'Memory in use (page cache excluded) and the limit',
    format: (row) => pair(stat(row, 'memoryWorkingSetBytes'), stat(row, 'memoryLimitBytes'), bytesSize, `${UNKNOWN} / ${UNKNOWN}`),
  },
  {
    field: 'MemPerc',
    header: 'MEM %',
    description: 'Memory in use as a percentage of the limit',
    format: (row) => formatPercent(stat(row, 'memoryPercent')),
  },
  {
    field: 'NetIO',
    header: 'NET I/O',
    description: 'Bytes received / sent',
    format: (row) => pair(stat(row, 'networkRxBytes'), stat(row, 'networkTxBytes'), decimal3, UNKNOWN),
  },
  {
    field: 'BlockIO',
    header: 'BLOCK I/O',
    description: 'Bytes read / written on block devices',
    format: (row) => pair(stat(row, 'blockReadBytes'), stat(row, 'blockWriteBytes'), decimal3, UNKNOWN),
  },
  {
    field: 'PIDs',
    header: 'PIDS',
    description: 'Processes and threads',
    format: (row) => {
      const pids = stat(row, 'pids');
      return pids === undefined ? UNKNOWN : String(pids);
    },
  },
  {
    field: 'CPUThrottled',
    header: 'CPU THROTTLED',
    description: 'Throttled CFS periods as a percentage of the periods in the last interval (-- without a CPU quota)',
    format: (row) => {
      // Without a quota the kernel never throttles, so a percentage would be a false 0.
      const limit = stat(row, 'cpuLimitCpus');
      if (limit === null || limit === undefined) return UNKNOWN;
      return formatPercent(stat(row, 'cpuThrottledPercent'));
    },
  },
];

export const STATS_COLUMN_REGISTRY: ColumnRegistry<StatsRow> = columnRegistry(STATS_COLUMNS);
