/**
 * Value formatting for the page, on top of the CLI's docker-exact formatters (server/cli/format is
 * pure and browser-safe). Unknown is always "--", never 0.
 */
import { UNKNOWN } from '../../server/cli/columns/column';
import { formatPercent } from '../../server/cli/columns/stats';
import { formatF } from '../../server/cli/format/gofloat';
import { bytesSize, humanSize } from '../../server/cli/format/units';

export { UNKNOWN };

export type Maybe = number | null | undefined;

const known = (value: Maybe): value is number => typeof value === 'number' && Number.isFinite(value);

/** docker's binary sizes ("5.629MiB"). Units: bytes in. */
export function bytes(value: Maybe): string {
  return known(value) ? bytesSize(value) : UNKNOWN;
}

/** A limit in bytes; null = unlimited. */
export function byteLimit(value: Maybe): string {
  if (value === null) return 'unlimited';
  return bytes(value);
}

/** Decimal sizes per second ("2.48kB/s"), as docker's I/O columns count. Units: bytes per second in. */
export function rate(value: Maybe): string {
  return known(value) ? `${humanSize(value)}/s` : UNKNOWN;
}

/** "12.34%" (docker's %.2f%%). Units: percent in. */
export function percent(value: Maybe): string {
  return formatPercent(known(value) ? value : undefined);
}

/** CPUs, e.g. "0.5", "2"; null = unlimited. */
export function cpus(value: Maybe): string {
  if (value === null) return 'unlimited';
  if (!known(value)) return UNKNOWN;
  return String(Number(formatF(value, 3)));
}

/** A count; null = unlimited. */
export function count(value: Maybe): string {
  if (value === null) return 'unlimited';
  return known(value) ? String(value) : UNKNOWN;
}

/** "3d 4h 12m", for uptimes. Units: seconds in. */
export function duration(seconds: Maybe): string {
  if (!known(seconds)) return UNKNOWN;
  const s = Math.floor(seconds);
  const days = Math.floor(s / 86_400);
  const hours = Math.floor((s % 86_400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  if (days > 0) return `${days}d ${hours}h ${minutes}m`;
  if (hours > 0) return `${hours}h ${minutes}m`;
  return `${minutes}m ${s % 60}s`;
}

/** Local wall-clock time with seconds. Units: milliseconds since the Unix epoch in. */
export function clock(ms: Maybe): string {
  if (!known(ms)) return UNKNOWN;
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

/** Local date and time. Units: milliseconds since the Unix epoch in. */
export function dateTime(ms: Maybe): string {
  if (!known(ms)) return UNKNOWN;
  const d = new Date(ms);
  return `${d.toLocaleDateString()} ${d.toLocaleTimeString([], { hour12: false })}`;
}

/** The first 12 hex digits, as docker shows ids. */
export function shortId(id: string): string {
  return id.length > 12 ? id.slice(0, 12) : id;
}
