/**
 * The column model shared by every listing (capstan stats, capstan ps, and later the web table),
 * after ctop's compact columns: a column knows its template field name, its header, and how to
 * turn one row into cell text. A table is then just a template naming columns
 * ("table {{.ID}}\t{{.CPUPerc}}"), exactly like docker's --format.
 *
 * Pure and free of Node APIs so the web bundle can import it too.
 */

/** What a cell shows when the value is unknown. Never 0: 0 is a measurement. */
export const UNKNOWN = '--';

export interface RenderOptions {
  /** Cut IDs to 12 characters (docker's default; --no-trunc turns it off). */
  trunc: boolean;
  /** "Now", for relative times such as "5 minutes ago". Units: milliseconds since the Unix epoch. */
  nowMs: number;
}

export interface Column<Row> {
  /** Template field name, as in {{.CPUPerc}}. */
  readonly field: string;
  /** Header text in `table` output. */
  readonly header: string;
  /** One line for help texts. */
  readonly description: string;
  /** The cell text for one row; UNKNOWN when the value is not known. `args`: the template's string arguments ({{.Label "k"}}). */
  format(row: Row, options: RenderOptions, ...args: string[]): string;
  /** How many string arguments the field takes (default 0); fields that take any are left out of {{json .}}, as Go's marshal leaves methods with parameters. */
  readonly arity?: number;
  /** capstan's own field, left out of {{json .}} so the JSON keys stay docker's (default true). */
  readonly inJson?: boolean;
  /** The JSON value text for {{json .}} when it is not the cell text as a string (docker's Platform is null). */
  json?(row: Row, options: RenderOptions): string;
}

/** Field name → column, in the order the columns were declared. */
export type ColumnRegistry<Row> = ReadonlyMap<string, Column<Row>>;

export function columnRegistry<Row>(columns: readonly Column<Row>[]): ColumnRegistry<Row> {
  const map = new Map<string, Column<Row>>();
  for (const column of columns) {
    if (map.has(column.field)) throw new Error(`duplicate column field ${column.field}`);
    map.set(column.field, column);
  }
  return map;
}

/** docker's stringid.TruncateID: drop an "algo:" prefix, keep 12 characters. */
export function truncateId(id: string): string {
  const colon = id.indexOf(':');
  if (colon >= 0) id = id.slice(colon + 1);
  return id.length > 12 ? id.slice(0, 12) : id;
}

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
