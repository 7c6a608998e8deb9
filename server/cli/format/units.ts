/**
 * Human-readable sizes and durations exactly as docker prints them (github.com/docker/go-units:
 * BytesSize, HumanSize, HumanSizeWithPrecision, HumanDuration). Pure: no I/O.
 *
 * The quirks are deliberate: sizes are divided while ≥ the base, then printed with Go's %g, so
 * 999.5 bytes prints as "1e+03B" and 1023.99 KiB as "1024KiB", just as `docker stats` shows them.
 */
import { formatG } from './gofloat';

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'] as const;
const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'] as const;

/** Divides by `base` while the value is at least `base` (stopping at the last unit). */
function sizeAndUnit(size: number, base: number, units: readonly string[]): [number, string] {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return [size, units[i]!];
}

/** go-units BytesSize: binary units, 4 significant digits. bytesSize(5902336) === "5.629MiB". Units: bytes in. */
export function bytesSize(sizeBytes: number): string {
  const [size, unit] = sizeAndUnit(sizeBytes, 1024, BINARY_UNITS);
  return formatG(size, 4) + unit;
}

/** go-units HumanSizeWithPrecision: decimal units. humanSizeWithPrecision(2480, 3) === "2.48kB". Units: bytes in. */
export function humanSizeWithPrecision(sizeBytes: number, precision: number): string {
  const [size, unit] = sizeAndUnit(sizeBytes, 1000, DECIMAL_UNITS);
  return formatG(size, precision) + unit;
}

/** go-units HumanSize: decimal units, 4 significant digits. Units: bytes in. */
export function humanSize(sizeBytes: number): string {
  return humanSizeWithPrecision(sizeBytes, 4);
}

/**
 * go-units HumanDuration, e.g. "Less than a second", "About a minute", "5 minutes", "3 weeks".
 * docker ps appends " ago" for its CREATED column. Units: milliseconds in.
 */
export function humanDuration(durationMs: number): string {
  // Go converts with int(d.Seconds()) and friends, which truncate toward zero.
  const seconds = Math.trunc(durationMs / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(durationMs / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(durationMs / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(durationMs / 3_600_000) / 24 / 365)} years`;
}
