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
  /** The cell text for one row; UNKNOWN when the value is not known. */
  format(row: Row, options: RenderOptions): string;
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
