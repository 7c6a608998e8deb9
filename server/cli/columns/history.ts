/**
 * `capstan history`: docker's history table (docker/cli cli/command/formatter/history.go): IMAGE
 * CREATED CREATED BY SIZE COMMENT, newest first; CREATED BY to 45 columns unless --no-trunc;
 * -H=false prints RFC 3339 times and sizes in bytes. Pure.
 */
import type { HistoryEntry } from '../../runtime/images/history';
import { humanDuration, humanSizeWithPrecision } from '../format/units';
import { columnRegistry, truncateId, type Column, type ColumnRegistry } from './column';
import { ellipsis } from './ps';

export interface HistoryRow {
  entry: HistoryEntry;
  /** -H: human times and sizes (the default). */
  human: boolean;
}

export const DEFAULT_HISTORY_TABLE_FORMAT = 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}';

/** Go's time.RFC3339 in the local zone ("2006-01-02T15:04:05Z07:00"). Units: seconds in. */
export function rfc3339Local(seconds: number): string {
  const date = new Date(seconds * 1000);
  const pad = (n: number): string => String(n).padStart(2, '0');
  const offsetMinutes = -date.getTimezoneOffset();
  const zone = offsetMinutes === 0 ? 'Z' : `${offsetMinutes > 0 ? '+' : '-'}${pad(Math.floor(Math.abs(offsetMinutes) / 60))}:${pad(Math.abs(offsetMinutes) % 60)}`;
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}${zone}`;
}

export const HISTORY_COLUMNS: readonly Column<HistoryRow>[] = [
  { field: 'ID', header: 'IMAGE', description: 'Image ID (<missing> for layers that are not images here)', format: (row, o) => (o.trunc && row.entry.Id !== '<missing>' ? truncateId(row.entry.Id) : row.entry.Id) },
  {
    field: 'CreatedSince',
    header: 'CREATED',
    description: 'Time since the step ran (RFC 3339 with -H=false)',
    format: (row, o) => (row.human ? `${humanDuration(Math.max(0, o.nowMs - row.entry.Created * 1000))} ago` : rfc3339Local(row.entry.Created)),
  },
  { field: 'CreatedAt', header: 'CREATED AT', description: 'When the step ran (RFC 3339)', format: (row) => rfc3339Local(row.entry.Created) },
  {
    field: 'CreatedBy',
    header: 'CREATED BY',
    description: 'The command of the step (45 columns unless --no-trunc)',
    format: (row, o) => {
      const text = row.entry.CreatedBy.replace(/\t/g, ' ');
      return o.trunc ? ellipsis(text, 45) : text;
    },
  },
  { field: 'Size', header: 'SIZE', description: 'Size of the layer the step made', format: (row) => (row.human ? humanSizeWithPrecision(row.entry.Size, 3) : String(row.entry.Size)) },
  { field: 'Comment', header: 'COMMENT', description: 'Comment of the step', format: (row) => row.entry.Comment },
];

export const HISTORY_COLUMN_REGISTRY: ColumnRegistry<HistoryRow> = columnRegistry(HISTORY_COLUMNS);
