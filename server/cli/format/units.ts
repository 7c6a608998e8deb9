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

// go-units HumanDuration lives beside the model: the agent's ps answer (docker's Status text) needs it too.
export { humanDuration } from '../../model/human-duration';
