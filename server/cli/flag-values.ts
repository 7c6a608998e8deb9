/**
 * The checks docker's CLI makes of a flag's value while it parses the command line (each flag's
 * pflag type: opts.MemBytes, opts.NanoCPUs, int64, uint16), so a bad value is refused before any
 * request, in docker's words and with its exit status 125 (args.ts adds the flag's name). Pure.
 */
import { parseGoInt, parseNanoCpus, parseRamInBytes } from '../limits/units';

/** opts.MemBytes: "64m", "1g", "512". */
export function checkSize(value: string): void {
  parseRamInBytes(value);
}

/** opts.MemSwapBytes: a size, or -1 for unlimited swap. */
export function checkSwapSize(value: string): void {
  if (value !== '-1') parseRamInBytes(value);
}

/** opts.NanoCPUs: "0.5", "1.25", "1/2". */
export function checkCpus(value: string): void {
  parseNanoCpus(value);
}

/** An int64 flag (strconv.ParseInt). */
export function checkInt64(value: string): void {
  parseGoInt(value);
}

/** A uint16 flag (strconv.ParseUint(value, 0, 16)). */
export function checkUint16(value: string): void {
  if (!/^\d+$/.test(value)) throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(value)}: invalid syntax`);
  if (Number(value) > 65535) throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(value)}: value out of range`);
}
