/**
 * Go's %g / %f / %e, digit for digit. Every expected string below was printed by Go 1.19's fmt
 * (fmt.Sprintf) for the same float64; the comments say which Go rule each case exercises.
 */
import test from 'ava';
import { formatE, formatF, formatG } from '../../server/cli/format/gofloat';

// [input, %g, %.1g, %.2g, %.3g, %.4g, %.2f, %.0f, %.2e]
const GOLDEN: Array<[number, string, string, string, string, string, string, string, string]> = [
  [0, '0', '0', '0', '0', '0', '0.00', '0', '0.00e+00'],
  [1, '1', '1', '1', '1', '1', '1.00', '1', '1.00e+00'],
  [0.5, '0.5', '0.5', '0.5', '0.5', '0.5', '0.50', '0', '5.00e-01'],
  [1.5, '1.5', '2', '1.5', '1.5', '1.5', '1.50', '2', '1.50e+00'],
  [2.5, '2.5', '2', '2.5', '2.5', '2.5', '2.50', '2', '2.50e+00'],
  [0.125, '0.125', '0.1', '0.12', '0.125', '0.125', '0.12', '0', '1.25e-01'],
  [2.125, '2.125', '2', '2.1', '2.12', '2.125', '2.12', '2', '2.12e+00'],
  [999, '999', '1e+03', '1e+03', '999', '999', '999.00', '999', '9.99e+02'],
  [999.5, '999.5', '1e+03', '1e+03', '1e+03', '999.5', '999.50', '1000', '1.00e+03'],
  [1000, '1000', '1e+03', '1e+03', '1e+03', '1000', '1000.00', '1000', '1.00e+03'],
  [1023.5, '1023.5', '1e+03', '1e+03', '1.02e+03', '1024', '1023.50', '1024', '1.02e+03'],
  [99.95, '99.95', '1e+02', '1e+02', '100', '99.95', '99.95', '100', '1.00e+02'],
  [9.995, '9.995', '1e+01', '10', '9.99', '9.995', '9.99', '10', '9.99e+00'],
  [100.5, '100.5', '1e+02', '1e+02', '100', '100.5', '100.50', '100', '1.00e+02'],
  [0.0001, '0.0001', '0.0001', '0.0001', '0.0001', '0.0001', '0.00', '0', '1.00e-04'],
  [1e-5, '1e-05', '1e-05', '1e-05', '1e-05', '1e-05', '0.00', '0', '1.00e-05'],
  [123456789, '1.23456789e+08', '1e+08', '1.2e+08', '1.23e+08', '1.235e+08', '123456789.00', '123456789', '1.23e+08'],
  [12345.678, '12345.678', '1e+04', '1.2e+04', '1.23e+04', '1.235e+04', '12345.68', '12346', '1.23e+04'],
  [0.005, '0.005', '0.005', '0.005', '0.005', '0.005', '0.01', '0', '5.00e-03'],
  [0.015, '0.015', '0.01', '0.015', '0.015', '0.015', '0.01', '0', '1.50e-02'],
  [0.025, '0.025', '0.03', '0.025', '0.025', '0.025', '0.03', '0', '2.50e-02'],
  [4.45, '4.45', '4', '4.5', '4.45', '4.45', '4.45', '4', '4.45e+00'],
  [0.95, '0.95', '0.9', '0.95', '0.95', '0.95', '0.95', '1', '9.50e-01'],
  [-999.5, '-999.5', '-1e+03', '-1e+03', '-1e+03', '-999.5', '-999.50', '-1000', '-1.00e+03'],
  [2.5e21, '2.5e+21', '2e+21', '2.5e+21', '2.5e+21', '2.5e+21', '2500000000000000000000.00', '2500000000000000000000', '2.50e+21'],
  [5e-324, '5e-324', '5e-324', '4.9e-324', '4.94e-324', '4.941e-324', '0.00', '0', '4.94e-324'],
];

for (const [x, g, g1, g2, g3, g4, f2, f0, e2] of GOLDEN) {
  test(`matches Go for ${x}`, (t) => {
    t.is(formatG(x, -1), g, '%g');
    t.is(formatG(x, 1), g1, '%.1g');
    t.is(formatG(x, 2), g2, '%.2g');
    t.is(formatG(x, 3), g3, '%.3g');
    t.is(formatG(x, 4), g4, '%.4g');
    t.is(formatF(x, 2), f2, '%.2f');
    t.is(formatF(x, 0), f0, '%.0f');
    t.is(formatE(x, 2), e2, '%.2e');
  });
}

test('exact ties round half to even, unlike JavaScript', (t) => {
  // JavaScript: (2.5).toPrecision(1) === "3", (0.125).toFixed(2) === "0.13". Go: "2", "0.12".
  t.is(formatG(2.5, 1), '2');
  t.is(formatG(3.5, 1), '4');
  t.is(formatF(0.125, 2), '0.12');
  t.is(formatF(0.375, 2), '0.38');
  t.is(formatF(1506.625, 2), '1506.62');
  // 0.015 is really 0.01499999…, so it is not a tie and rounds down; 0.025 is 0.0250000…01 and rounds up.
  t.is(formatF(0.015, 2), '0.01');
  t.is(formatF(0.025, 2), '0.03');
});

test('%g switches to exponent form when the exponent reaches the precision', (t) => {
  t.is(formatG(1000, 3), '1e+03'); // exp 3 >= precision 3
  t.is(formatG(999.4, 3), '999');
  t.is(formatG(1024, 4), '1024'); // exp 3 < precision 4
  t.is(formatG(10240, 4), '1.024e+04');
  t.is(formatG(1e100, 3), '1e+100'); // three exponent digits when needed
  t.is(formatG(1e-5, 3), '1e-05'); // exp < -4 → exponent form
  t.is(formatG(0.0001234, 3), '0.000123');
  t.is(formatG(0, 3), '0');
});

test('%g drops trailing zeros and a bare decimal point', (t) => {
  t.is(formatG(1.5, 4), '1.5');
  t.is(formatG(100, 4), '100');
  t.is(formatG(2, 4), '2');
  t.is(formatG(1.0001, 4), '1');
});

test('precision 0 for %g means 1, as in Go', (t) => {
  t.is(formatG(123, 0), '1e+02');
  t.is(formatG(0.5, 0), '0.5');
});

test('negative zero, infinities and NaN print as Go prints them', (t) => {
  t.is(formatG(-0, 4), '-0');
  t.is(formatF(-0.001, 2), '-0.00');
  t.is(formatG(Infinity, 3), '+Inf');
  t.is(formatF(-Infinity, 2), '-Inf');
  t.is(formatG(NaN, 3), 'NaN');
});

test('shortest %g uses exponent form from 1e+21 and below 1e-4', (t) => {
  t.is(formatG(1e20, -1), '1e+20');
  t.is(formatG(123456, -1), '123456');
  t.is(formatG(1234567, -1), '1.234567e+06');
  t.is(formatG(0.1 + 0.2, -1), '0.30000000000000004');
});
