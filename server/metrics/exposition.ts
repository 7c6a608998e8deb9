/**
 * Pure helpers for the Prometheus text exposition format (version 0.0.4), used to render the
 * container series without prom-client: at 1000 cgroups (~25k series) prom-client's per-series
 * label hashing costs more than the whole scrape budget, while the container series are rebuilt
 * from scratch on every tick anyway, so nothing is gained by keeping them in its hash maps.
 *
 * No I/O here.
 */

const NEEDS_LABEL_ESCAPE = /[\\"\n]/;
const NEEDS_HELP_ESCAPE = /[\\\n]/;

/** Escapes a label value: backslash, double quote and line feed, as the exposition format requires. */
export function escapeLabelValue(value: string): string {
  // Most values (cgroup paths, image names) need nothing; testing first avoids three replaces.
  if (!NEEDS_LABEL_ESCAPE.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Escapes HELP text: only backslash and line feed (quotes are literal there). */
export function escapeHelp(text: string): string {
  if (!NEEDS_HELP_ESCAPE.test(text)) return text;
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/**
 * Formats a sample value. Integers print without exponent up to 1e21, which covers every
 * counter the kernel keeps (the text format parses them as float64 anyway).
 */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** The two header lines of a metric family, each ending in a line feed. */
export function familyHeader(name: string, help: string, type: string): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
}

/** `name="value",…` for parallel arrays of label names and (unescaped) values; no braces. */
export function formatLabelPairs(names: readonly string[], values: readonly string[]): string {
  let out = '';
  for (let i = 0; i < names.length; i++) {
    if (i > 0) out += ',';
    out += `${names[i]}="${escapeLabelValue(values[i] ?? '')}"`;
  }
  return out;
}

/** Names of the metric families in an exposition text, in order of their TYPE lines. */
export function familyNames(text: string): string[] {
  const names: string[] = [];
  for (const match of text.matchAll(/^# TYPE (\S+) /gm)) names.push(match[1]!);
  return names;
}

/**
 * Accumulates exposition text as UTF-8 bytes in one growing buffer. At ~40k series this is about
 * a third cheaper than joining strings: V8 builds and then flattens a tree of string pieces,
 * while here each piece is copied once. The buffer is kept and reused by the next render.
 */
export class ExpositionWriter {
  private buffer: Buffer;
  private used = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  /** Bytes written so far; a position for truncate(). */
  get length(): number {
    return this.used;
  }

  /** Forgets everything written after `position` (e.g. a family header with no samples). */
  truncate(position: number): void {
    this.used = Math.min(this.used, position);
  }

  /** Starts over, keeping the allocated buffer. */
  reset(): void {
    this.used = 0;
  }

  /** Appends pre-encoded bytes. */
  bytes(chunk: Uint8Array): void {
    this.reserve(chunk.length);
    this.buffer.set(chunk, this.used);
    this.used += chunk.length;
  }

  /** Appends text that is ASCII by construction (metric names, numbers): one byte per character. */
  ascii(text: string): void {
    this.reserve(text.length);
    this.used += this.buffer.write(text, this.used, 'latin1');
  }

  /** Appends arbitrary text as UTF-8. */
  text(value: string): void {
    this.reserve(value.length * 3);
    this.used += this.buffer.write(value, this.used, 'utf8');
  }

  /** Appends one byte (a line feed, a brace). */
  byte(value: number): void {
    this.reserve(1);
    this.buffer[this.used++] = value;
  }

  toString(): string {
    return this.buffer.toString('utf8', 0, this.used);
  }

  private reserve(extra: number): void {
    const needed = this.used + extra;
    if (needed <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2));
    this.buffer.copy(grown, 0, 0, this.used);
    this.buffer = grown;
  }
}
