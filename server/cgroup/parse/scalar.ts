/**
 * Single-value files: one number (or the word "max") followed by a newline. The kernel writes
 * these with a trailing "\n", cpuacct.usage_percpu even with a trailing space, so surrounding
 * whitespace is ignored; anything else that is not a plain decimal integer is an error.
 */
import { CgroupParseError, quote } from './errors';

/**
 * v1 reports "unlimited" as the largest page-aligned signed 64-bit value (9223372036854771712 on
 * x86-64 with 4 KiB pages; other page sizes give other values). Like cAdvisor, treat anything at
 * or above 2^62 as unlimited rather than matching one magic number.
 */
export const V1_UNLIMITED_THRESHOLD = 2 ** 62;

function isDigits(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * Parses a decimal unsigned integer. Values above 2^53 lose precision as JS numbers, which only
 * happens for v1's "unlimited" sentinels and is harmless there. `what` names the value in messages.
 */
export function parseUnsignedValue(file: string, text: string, what = 'an unsigned integer'): number {
  if (!isDigits(text)) {
    throw new CgroupParseError(file, text.length === 0 ? `expected ${what}, got an empty value` : `expected ${what}, got ${quote(text)}`);
  }
  return Number(text);
}

/** Parses a decimal integer that may be negative (cpu.cfs_quota_us uses -1). */
export function parseSignedValue(file: string, text: string): number {
  const digits = text.charCodeAt(0) === 45 /* - */ ? text.slice(1) : text;
  if (!isDigits(digits)) {
    throw new CgroupParseError(file, text.length === 0 ? 'expected an integer, got an empty value' : `expected an integer, got ${quote(text)}`);
  }
  return Number(text);
}

/** The single trimmed value of a one-value file; an empty file is an error (a truncated read). */
export function singleValue(file: string, text: string): string {
  const value = text.trim();
  if (value.length === 0) throw new CgroupParseError(file, 'file is empty');
  return value;
}

/** A file holding one unsigned integer (cpuacct.usage, memory.usage_in_bytes, pids.current, ...). */
export function parseUnsignedFile(file: string, text: string): number {
  return parseUnsignedValue(file, singleValue(file, text));
}

/** A file holding one unsigned integer or "max" (v2 limits, pids.max); "max" → null (unlimited). */
export function parseMaxOrUnsignedFile(file: string, text: string): number | null {
  const value = singleValue(file, text);
  return value === 'max' ? null : parseUnsignedValue(file, value, 'an unsigned integer or "max"');
}

/** A v1 byte limit (memory.limit_in_bytes and friends): values ≥ 2^62 mean unlimited → null. */
export function parseV1LimitFile(file: string, text: string): number | null {
  const bytes = parseUnsignedFile(file, text);
  return bytes >= V1_UNLIMITED_THRESHOLD ? null : bytes;
}
