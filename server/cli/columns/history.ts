/**
 * `capstan history`: docker's columns (docker/cli cli/command/formatter/history.go): IMAGE,
 * CREATED, CREATED BY (45 columns unless --no-trunc), SIZE, COMMENT. With -H=false, times are
 * RFC 3339 and sizes plain bytes, as docker prints them. Pure.
 */
import type { HistoryEntry } from '../../runtime/images/history';
import { humanDuration, humanSizeWithPrecision } from '../format/units';
import { columnRegistry, truncateId, type Column } from './column';
import { ellipsis } from './ps';

export interface HistoryRow {
  entry: HistoryEntry;
  /** -H: human sizes and times (docker's default). */
  human: boolean;
}

export const DEFAULT_HISTORY_TABLE_FORMAT = 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}';

/** Go's time.Unix(s, 0).Format(time.RFC3339) in UTC. */
function rfc3339Seconds(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const HISTORY_COLUMNS: readonly Column<HistoryRow>[] = [
  { field: 'ID', header: 'IMAGE', description: 'Image ID (<missing> for steps without an image of their own)', format: (row, o) => (o.trunc ? truncateId(row.entry.Id) : row.entry.Id) },
  {
    field: 'CreatedSince',
    header: 'CREATED',
    description: 'Time since the step was made (RFC 3339 with -H=false)',
    format: (row, o) => (row.human ? `${humanDuration(Math.max(0, o.nowMs - row.entry.Created * 1000))} ago` : rfc3339Seconds(row.entry.Created)),
  },
  { field: 'CreatedAt', header: 'CREATED AT', description: 'When the step was made', format: (row) => rfc3339Seconds(row.entry.Created) },
  {
    field: 'CreatedBy',
    header: 'CREATED BY',
    description: 'The command of the step (45 columns unless --no-trunc)',
    format: (row, o) => {
      const createdBy = row.entry.CreatedBy.replace(/\t/g, ' ');
      return o.trunc ? ellipsis(createdBy, 45) : createdBy;
    },
  },
  { field: 'Size', header: 'SIZE', description: 'Size of the layer the step made (bytes with -H=false)', format: (row) => (row.human ? humanSizeWithPrecision(row.entry.Size, 3) : String(row.entry.Size)) },
  { field: 'Comment', header: 'COMMENT', description: 'The step\'s comment', format: (row) => row.entry.Comment },
];

export const HISTORY_COLUMN_REGISTRY = columnRegistry(HISTORY_COLUMNS);
export const HISTORY_FIELDS = HISTORY_COLUMNS.map((column) => column.field);
