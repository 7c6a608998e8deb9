/**
 * Parsing of the values `docker update` accepts, with Docker's meaning and error texts:
 * sizes like go-units' RAMInBytes ("512m", "1g", "1.5GiB"), `--cpus` like the CLI's NanoCPUs
 * (an exact rational, at most nanosecond precision), integers like strconv.ParseInt, CPU lists
 * like parsers.ParseUintList. Pure: text in, number or Error out; the caller adds the flag name.
 */

/** Binary multipliers: RAMInBytes treats k, m, g, t, p as powers of 1024 whatever the case or "b"/"ib". */
const BINARY_UNITS: Readonly<Record<string, number>> = {
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/** Largest int64. Units: whatever the value counts (bytes, microseconds, ...). */
const INT64_MAX = 9223372036854775807;

/** Go's strconv.ParseFloat grammar for decimal input (sign, digits, optional point, exponent). */
const DECIMAL_FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Go's strconv.ParseFloat for what a size's number part can be: it always ends in a digit or a
 * point, because RAMInBytes splits the text after the last digit, point or space.
 */
function parseGoFloat(text: string): number {
  if (!DECIMAL_FLOAT.test(text)) throw new Error(`strconv.ParseFloat: parsing ${JSON.stringify(text)}: invalid syntax`);
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`strconv.ParseFloat: parsing ${JSON.stringify(text)}: value out of range`);
  return value;
}

/**
 * go-units RAMInBytes: "512m" → 536870912, "1.5GiB" → 1610612736, "10 MB" → 10485760, "64" → 64.
 * Suffixes are binary (k = 1024) and case-insensitive, optionally followed by "b" or "ib"; a bare
 * "b" means bytes. Negative sizes are refused (Docker's own rule), fractions are truncated to
 * whole bytes. Units: bytes.
 */
export function parseRamInBytes(size: string): number {
  // Split after the last digit, point or space: "1.5GiB" → "1.5" + "GiB", "10 MB" → "10" + "MB".
  let separator = -1;
  for (let i = size.length - 1; i >= 0; i--) {
    if ('0123456789. '.includes(size[i]!)) {
      separator = i;
      break;
    }
  }
  if (separator === -1) throw new Error(`invalid size: '${size}'`);
  const number = size[separator] === ' ' ? size.slice(0, separator) : size.slice(0, separator + 1);
  let suffix = size.slice(separator + 1);

  let value = parseGoFloat(number);
  if (value < 0) throw new Error(`invalid size: '${size}'`);

  if (suffix.length > 0) {
    const badSuffix = (): Error => new Error(`invalid suffix: '${suffix}'`);
    if (suffix.length > 3) throw badSuffix();
    suffix = suffix.toLowerCase();
    if (suffix[0] === 'b') {
      if (suffix.length > 1) throw badSuffix();
    } else {
      const multiplier = BINARY_UNITS[suffix[0]!];
      if (multiplier === undefined) throw badSuffix();
      if ((suffix.length === 2 && suffix[1] !== 'b') || (suffix.length === 3 && suffix.slice(1) !== 'ib')) throw badSuffix();
      value *= multiplier;
    }
  }
  if (value > INT64_MAX) throw new Error(`invalid size: '${size}' (larger than 8 EiB)`);
  return Math.trunc(value);
}

/**
 * Go's strconv.ParseInt(text, 10, 64), with its error text. Values beyond ±2^53 are refused as out
 * of range here too: they would not survive a JS number, and no cgroup value needs them.
 */
export function parseGoInt(text: string): number {
  const syntax = (): Error => new Error(`strconv.ParseInt: parsing ${JSON.stringify(text)}: invalid syntax`);
  if (!/^[+-]?\d+$/.test(text)) throw syntax();
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`strconv.ParseInt: parsing ${JSON.stringify(text)}: value out of range`);
  return value;
}

/** Nanoseconds per second, and so NanoCPUs per CPU. */
export const NANO_CPUS_PER_CPU = 1_000_000_000;

/**
 * `--cpus` the way docker's CLI reads it (opts.NanoCPUs, a big.Rat): "0.5", "1.25", "5e-1" and
 * "1/2" all work, and the value must be a whole number of nano-CPUs ("value is too precise"
 * otherwise). Units: nano-CPUs (1e9 = one CPU).
 */
export function parseNanoCpus(text: string): number {
  const rational = parseRational(text);
  if (!rational) throw new Error(`failed to parse ${text} as a rational number`);
  const scaled = rational.numerator * BigInt(NANO_CPUS_PER_CPU);
  if (scaled % rational.denominator !== 0n) throw new Error('value is too precise');
  const nano = scaled / rational.denominator;
  if (nano > BigInt(Number.MAX_SAFE_INTEGER) || nano < -BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('value is too large');
  return Number(nano);
}

/** big.Rat.SetString's common forms: "a/b", and decimals with an optional exponent. */
function parseRational(text: string): { numerator: bigint; denominator: bigint } | undefined {
  const fraction = /^([+-]?\d+)\/(\d+)$/.exec(text);
  if (fraction) {
    const denominator = BigInt(fraction[2]!);
    if (denominator === 0n) return undefined;
    return { numerator: BigInt(fraction[1]!), denominator };
  }
  const decimal = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,4}))?$/.exec(text);
  if (!decimal || (decimal[2] === '' && (decimal[3] ?? '') === '')) return undefined;
  const [, sign, whole, fractionDigits = '', exponentText = '0'] = decimal;
  let numerator = BigInt((whole || '0') + fractionDigits);
  let denominator = 10n ** BigInt(fractionDigits.length);
  const exponent = Number(exponentText);
  if (exponent >= 0) numerator *= 10n ** BigInt(exponent);
  else denominator *= 10n ** BigInt(-exponent);
  if (sign === '-') numerator = -numerator;
  return { numerator, denominator };
}

/**
 * A cpuset list ("0-3,5") as the set of CPUs it names, like docker's parsers.ParseUintList;
 * undefined when malformed. An empty list is the empty set. At most `maxCpu` is accepted, so a
 * hostile "0-4000000000" cannot allocate a huge set.
 */
export function parseCpuList(text: string, maxCpu = 8191): Set<number> | undefined {
  const cpus = new Set<number>();
  if (text.trim() === '') return cpus;
  for (const part of text.trim().split(',')) {
    const range = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!range) return undefined;
    const first = Number(range[1]);
    const last = range[2] === undefined ? first : Number(range[2]);
    if (last < first || last > maxCpu) return undefined;
    for (let cpu = first; cpu <= last; cpu++) cpus.add(cpu);
  }
  return cpus;
}

/** The canonical kernel spelling of a CPU set: sorted ranges, "0-2,5". */
export function formatCpuList(cpus: ReadonlySet<number>): string {
  const sorted = [...cpus].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/**
 * Bytes the way docker prints them (go-units BytesSize: binary units, 4 significant digits):
 * 67108864 → "64MiB", 1610612736 → "1.5GiB", 99999744 → "95.37MiB".
 */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number(value.toPrecision(4))}${units[unit]}`;
}
