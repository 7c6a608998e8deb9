/**
 * Go's float formatting (strconv.FormatFloat, and so fmt's %e, %f, %g), reproduced digit for digit.
 *
 * Why not Number#toPrecision / toFixed: JavaScript rounds an exact tie away from zero
 * ((2.5).toPrecision(1) === "3", (0.125).toFixed(2) === "0.13"), while Go rounds ties to even
 * ("2", "0.12"); and JavaScript's exponent form ("1.00e+3") differs from Go's ("1e+03"). docker
 * stats output is made of Go's %.2f, %.3g and %.4g, so capstan has to round and print as Go does.
 *
 * How: every finite double is a dyadic rational and so has a finite decimal expansion. We compute
 * it exactly with BigInt, round it half-to-even at the requested digit (which is what Go's
 * fixed-precision paths do: ryuFtoaFixed64 is exact wherever a tie is possible, and bigFtoa
 * rounds half-to-even), then lay the digits out with the rules of Go's fmtE / fmtF / %g.
 * Pure: no I/O.
 */

/** A non-negative decimal number 0.d₁d₂…dₙ × 10^dp; `digits` has no leading or trailing zeros ('' is zero). */
interface DecimalDigits {
  digits: string;
  /** Position of the decimal point relative to the start of `digits`. */
  dp: number;
}

const ZERO: DecimalDigits = { digits: '', dp: 0 };

/** The exact decimal expansion of a finite, non-negative double. */
function exactDecimal(x: number): DecimalDigits {
  if (x === 0) return ZERO;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const biasedExponent = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exponent2: number;
  if (biasedExponent === 0) {
    exponent2 = -1074; // subnormal
  } else {
    mantissa |= 1n << 52n;
    exponent2 = biasedExponent - 1075;
  }
  // x = mantissa × 2^exponent2. For a negative exponent, m / 2^k = m × 5^k / 10^k.
  let integerDigits: string;
  let fractionDigits: number;
  if (exponent2 >= 0) {
    integerDigits = (mantissa << BigInt(exponent2)).toString();
    fractionDigits = 0;
  } else {
    integerDigits = (mantissa * 5n ** BigInt(-exponent2)).toString();
    fractionDigits = -exponent2;
  }
  const dp = integerDigits.length - fractionDigits;
  return { digits: integerDigits.replace(/0+$/, ''), dp };
}

/** Keeps the first `nd` digits, rounding half to even (Go's decimal.Round / shouldRoundUp). */
function roundDigits(d: DecimalDigits, nd: number): DecimalDigits {
  // Go's decimal.Round leaves the number alone when nd is out of range; for nd < 0 every digit
  // lies beyond the first dropped position, so truncation is also the correct rounding.
  if (nd < 0 || nd >= d.digits.length) return d;
  const next = d.digits.charCodeAt(nd) - 48;
  let roundUp: boolean;
  if (next === 5 && nd + 1 === d.digits.length) {
    // Exactly halfway: round to even. With no kept digit the "previous digit" is an implicit 0.
    roundUp = nd > 0 && (d.digits.charCodeAt(nd - 1) - 48) % 2 === 1;
  } else {
    roundUp = next >= 5;
  }
  if (!roundUp) {
    const kept = d.digits.slice(0, nd).replace(/0+$/, '');
    return kept === '' ? ZERO : { digits: kept, dp: d.dp };
  }
  // Round up: strip trailing 9s, then increment the last kept digit.
  let i = nd - 1;
  while (i >= 0 && d.digits[i] === '9') i--;
  if (i < 0) return { digits: '1', dp: d.dp + 1 };
  const bumped = String.fromCharCode(d.digits.charCodeAt(i) + 1);
  return { digits: d.digits.slice(0, i) + bumped, dp: d.dp };
}

/** Go's fmtE: one digit, '.', prec digits, 'e', sign, at least two exponent digits. */
function layoutE(d: DecimalDigits, prec: number): string {
  let out = d.digits.length > 0 ? d.digits[0]! : '0';
  if (prec > 0) {
    out += '.';
    const more = d.digits.slice(1, Math.min(d.digits.length, prec + 1));
    out += more + '0'.repeat(prec - more.length);
  }
  let exp = d.digits.length === 0 ? 0 : d.dp - 1;
  const sign = exp < 0 ? '-' : '+';
  exp = Math.abs(exp);
  return out + 'e' + sign + (exp < 10 ? '0' + exp : String(exp));
}

/** Go's fmtF: integer part padded with zeros, then exactly prec fraction digits. */
function layoutF(d: DecimalDigits, prec: number): string {
  let out: string;
  if (d.dp > 0) {
    const m = Math.min(d.digits.length, d.dp);
    out = d.digits.slice(0, m) + '0'.repeat(d.dp - m);
  } else {
    out = '0';
  }
  if (prec > 0) {
    out += '.';
    for (let i = 0; i < prec; i++) {
      const j = d.dp + i;
      out += j >= 0 && j < d.digits.length ? d.digits[j] : '0';
    }
  }
  return out;
}

/** The shortest digits that read back as x (JavaScript and Go agree on these). */
function shortestDecimal(x: number): DecimalDigits {
  if (x === 0) return ZERO;
  const [mantissa, exponent] = x.toExponential().split('e') as [string, string];
  const digits = mantissa.replace('.', '').replace(/0+$/, '');
  return { digits, dp: Number(exponent) + 1 };
}

function special(x: number): string | undefined {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  return undefined;
}

function isNegative(x: number): boolean {
  return x < 0 || Object.is(x, -0);
}

/**
 * Go's strconv.FormatFloat(x, 'g', prec, 64), which is also fmt's %.{prec}g.
 * prec < 0 means "shortest representation" (Go's %v / %g without precision).
 * Examples: formatG(1000, 3) === "1e+03"; formatG(5.6289, 4) === "5.629"; formatG(0, 4) === "0".
 */
export function formatG(x: number, prec: number): string {
  const s = special(x);
  if (s !== undefined) return s;
  const neg = isNegative(x);
  const abs = Math.abs(x);
  const shortest = prec < 0;
  let digs: DecimalDigits;
  if (shortest) {
    digs = shortestDecimal(abs);
    prec = digs.digits.length;
  } else {
    if (prec === 0) prec = 1;
    digs = roundDigits(exactDecimal(abs), prec);
  }
  const nd = digs.digits.length;
  let eprec = prec;
  if (eprec > nd && nd >= digs.dp) eprec = nd;
  // If precision was the shortest possible, Go uses precision 6 for this decision.
  if (shortest) eprec = 6;
  const exp = digs.dp - 1;
  let body: string;
  if (exp < -4 || exp >= eprec) {
    body = layoutE(digs, Math.min(prec, nd) - 1);
  } else {
    body = layoutF(digs, Math.max((prec > digs.dp ? nd : prec) - digs.dp, 0));
  }
  return (neg ? '-' : '') + body;
}

/** Go's strconv.FormatFloat(x, 'f', prec, 64), i.e. fmt's %.{prec}f. formatF(0.125, 2) === "0.12". */
export function formatF(x: number, prec: number): string {
  const s = special(x);
  if (s !== undefined) return s;
  const neg = isNegative(x);
  const abs = Math.abs(x);
  let digs: DecimalDigits;
  if (prec < 0) {
    digs = shortestDecimal(abs);
    prec = Math.max(digs.digits.length - digs.dp, 0);
  } else {
    const exact = exactDecimal(abs);
    digs = roundDigits(exact, exact.dp + prec);
  }
  return (neg ? '-' : '') + layoutF(digs, prec);
}

/** Go's strconv.FormatFloat(x, 'e', prec, 64), i.e. fmt's %.{prec}e. formatE(1234.5, 2) === "1.23e+03". */
export function formatE(x: number, prec: number): string {
  const s = special(x);
  if (s !== undefined) return s;
  const neg = isNegative(x);
  const abs = Math.abs(x);
  let digs: DecimalDigits;
  if (prec < 0) {
    digs = shortestDecimal(abs);
    prec = Math.max(digs.digits.length - 1, 0);
  } else {
    digs = roundDigits(exactDecimal(abs), prec + 1);
  }
  return (neg ? '-' : '') + layoutE(digs, prec);
}
