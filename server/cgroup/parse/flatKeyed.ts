/**
 * "Flat keyed" files (the kernel's own term, Documentation/admin-guide/cgroup-v2.rst): one
 * "key value" pair per line. memory.stat, cpu.stat, cpuacct.stat, memory.events and
 * memory.oom_control all use it. Kernels add keys over time, so unknown keys are skipped without
 * parsing their values; a line with no value is a truncated read and fails the whole file.
 */
import { CgroupParseError, quote } from './errors';
import { parseUnsignedValue } from './scalar';

/** Fewer digits than this always fit a double exactly, so they can be summed digit by digit. */
const EXACT_DIGITS = 15;

function unsignedAt(file: string, key: string, text: string, start: number, end: number): number {
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) {
      throw new CgroupParseError(file, `expected an unsigned integer for "${key}", got ${quote(text.slice(start, end))}`);
    }
    value = value * 10 + digit;
  }
  return end - start > EXACT_DIGITS ? Number(text.slice(start, end)) : value;
}

/**
 * Reads the values of `keys` from a flat-keyed file: `result[i]` is the value of `keys[i]`, or
 * undefined when the key is not in the file. This is the per-tick path (a v1 memory.stat has ~45
 * lines, of which capstan wants 8, for each of up to thousands of cgroups), so lines are matched
 * in place and nothing is allocated for the lines that are skipped. An empty string in `keys`
 * never matches (every line must have a key), which lets callers keep a fixed result layout.
 * An empty file is an error unless `allowEmpty`: every stat file the kernel writes has a line.
 */
export function pickFlatKeyed(file: string, text: string, keys: readonly string[], allowEmpty = false): Array<number | undefined> {
  const result: Array<number | undefined> = new Array(keys.length).fill(undefined);
  let lineStart = 0;
  let lines = 0;
  while (lineStart < text.length) {
    let lineEnd = text.indexOf('\n', lineStart);
    if (lineEnd === -1) lineEnd = text.length;
    if (lineEnd > lineStart) {
      lines++;
      const space = text.indexOf(' ', lineStart);
      if (space === -1 || space >= lineEnd - 1) {
        throw new CgroupParseError(file, `truncated line ${quote(text.slice(lineStart, lineEnd))} (expected "key value")`);
      }
      if (space === lineStart) {
        throw new CgroupParseError(file, `line without a key: ${quote(text.slice(lineStart, lineEnd))} (expected "key value")`);
      }
      const keyLength = space - lineStart;
      for (let k = 0; k < keys.length; k++) {
        const key = keys[k]!;
        if (key.length === keyLength && text.startsWith(key, lineStart)) {
          result[k] = unsignedAt(file, key, text, space + 1, lineEnd);
          break;
        }
      }
    }
    lineStart = lineEnd + 1;
  }
  if (lines === 0 && !allowEmpty) throw new CgroupParseError(file, 'file is empty');
  return result;
}

/**
 * Every key of a flat-keyed file with its value, for tools and tests; the per-tick parsers use
 * pickFlatKeyed instead of building a Map per file. An empty file gives an empty map.
 */
export function parseFlatKeyed(text: string, file = 'flat-keyed file'): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    const space = line.indexOf(' ');
    if (space === -1 || space === line.length - 1) {
      throw new CgroupParseError(file, `truncated line ${quote(line)} (expected "key value")`);
    }
    const key = line.slice(0, space);
    values.set(key, parseUnsignedValue(file, line.slice(space + 1), `an unsigned integer for "${key}"`));
  }
  return values;
}
