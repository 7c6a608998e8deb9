/**
 * Pure helpers for the two exposition formats Capstan serves: the Prometheus text format (version
 * 0.0.4) and OpenMetrics 1.0.0 (what Prometheus asks for first). They differ only in the headers
 * (OpenMetrics names a counter family without its `_total`, escapes `"` in HELP, allows no blank
 * line) and in the `# EOF` that ends an OpenMetrics body; sample lines are the same bytes.
 *
 * The container series are rendered without prom-client: at 1000 cgroups (~25k series)
 * prom-client's per-series label hashing costs more than the whole scrape budget, while the
 * container series are rebuilt from scratch on every tick anyway.
 *
 * No I/O here.
 */

export type ExpositionFormat = 'text' | 'openmetrics';

/** Content-Type of each format, as Prometheus' client libraries send them. */
export const CONTENT_TYPES: Readonly<Record<ExpositionFormat, string>> = {
  text: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
};

/** The line that ends every OpenMetrics body. */
export const OPENMETRICS_EOF = '# EOF\n';

const NEEDS_LABEL_ESCAPE = /[\\"\n]/;
const NEEDS_HELP_ESCAPE = /[\\\n]/;

/** Escapes a label value: backslash, double quote and line feed, as the exposition format requires. */
export function escapeLabelValue(value: string): string {
  // Most values (cgroup paths, image names) need nothing; testing first avoids three replaces.
  if (!NEEDS_LABEL_ESCAPE.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Escapes HELP text: only backslash and line feed in the text format (quotes are literal there); OpenMetrics escapes quotes too. */
export function escapeHelp(text: string, format: ExpositionFormat = 'text'): string {
  if (format === 'openmetrics') return escapeLabelValue(text);
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

/**
 * The name a family goes by in its HELP and TYPE lines. OpenMetrics names a counter family
 * without the `_total` its samples carry; the text format uses the sample name.
 */
export function familyName(sampleName: string, type: string, format: ExpositionFormat): string {
  return format === 'openmetrics' && type === 'counter' && sampleName.endsWith('_total') ? sampleName.slice(0, -'_total'.length) : sampleName;
}

/** The two header lines of a metric family (named as its samples are), each ending in a line feed. */
export function familyHeader(name: string, help: string, type: string, format: ExpositionFormat = 'text'): string {
  const family = familyName(name, type, format);
  return `# HELP ${family} ${escapeHelp(help, format)}\n# TYPE ${family} ${type}\n`;
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
/** Up to this many bytes, bytes() copies in a loop. Units: bytes. */
const SHORT_COPY_BYTES = 64;

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
    const length = chunk.length;
    this.reserve(length);
    if (length > SHORT_COPY_BYTES) {
      this.buffer.set(chunk, this.used);
    } else {
      // Most pieces are a few dozen bytes; a loop beats set()'s fixed cost of a native call there.
      const buffer = this.buffer;
      const start = this.used;
      for (let i = 0; i < length; i++) buffer[start + i] = chunk[i]!;
    }
    this.used += length;
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

  /**
   * Appends a sample value, formatted as formatValue() does. Whole numbers (most cgroup counters
   * and gauges) are written digit by digit, without a string per sample.
   */
  number(value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > Number.MAX_SAFE_INTEGER) {
      this.ascii(formatValue(value));
      return;
    }
    let digits = 1;
    for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    this.reserve(digits);
    let position = this.used + digits;
    let rest = value;
    do {
      this.buffer[--position] = 0x30 + (rest % 10);
      rest = Math.floor(rest / 10);
    } while (rest > 0);
    this.used += digits;
  }

  toString(): string {
    return this.buffer.toString('utf8', 0, this.used);
  }

  /** A copy of what was written: the writer's own buffer is overwritten by the next render. */
  toBuffer(): Buffer {
    const copy = Buffer.allocUnsafe(this.used);
    this.buffer.copy(copy, 0, 0, this.used);
    return copy;
  }

  private reserve(extra: number): void {
    const needed = this.used + extra;
    if (needed <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2));
    this.buffer.copy(grown, 0, 0, this.used);
    this.buffer = grown;
  }
}

/** One family as a metrics library hands it over (prom-client's `metric.get()` shape). */
export interface FamilySamples {
  name: string;
  help: string;
  type: string;
  values: ReadonlyArray<{ value: number; labels: Readonly<Record<string, string | number | undefined>>; metricName?: string }>;
}

/**
 * Appends whole families with their samples. In the text format a blank line follows every
 * family but the last, as prom-client writes them (the golden fixture keeps that layout);
 * OpenMetrics allows no blank line, and names a counter's samples `<family>_total`.
 */
export function writeFamilies(writer: ExpositionWriter, families: readonly FamilySamples[], format: ExpositionFormat): void {
  families.forEach((family, index) => {
    if (index > 0 && format === 'text') writer.byte(0x0a);
    writer.text(familyHeader(family.name, family.help, family.type, format));
    for (const sample of family.values) {
      writer.ascii(sample.metricName ?? family.name);
      let first = true;
      for (const [label, value] of Object.entries(sample.labels)) {
        if (value === undefined) continue;
        writer.ascii(first ? `{${label}="` : `,${label}="`);
        writer.text(escapeLabelValue(typeof value === 'number' ? formatValue(value) : value));
        writer.byte(0x22); // "
        first = false;
      }
      if (!first) writer.byte(0x7d); // }
      writer.byte(0x20);
      writer.number(sample.value);
      writer.byte(0x0a);
    }
  });
}
