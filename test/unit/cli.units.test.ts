/**
 * docker/go-units sizes and durations. Expected strings were printed by go-units v0.4.0
 * (BytesSize, HumanSizeWithPrecision(x, 3), HumanSize, HumanDuration) for the same inputs.
 */
import test from 'ava';
import { bytesSize, humanDuration, humanSize, humanSizeWithPrecision } from '../../server/cli/format/units';

// [bytes, BytesSize, HumanSizeWithPrecision(3) (docker stats NET I/O, BLOCK I/O), HumanSize]
const SIZES: Array<[number, string, string, string]> = [
  [0, '0B', '0B', '0B'],
  [1, '1B', '1B', '1B'],
  [916, '916B', '916B', '916B'],
  [999, '999B', '999B', '999B'],
  [1000, '1000B', '1kB', '1kB'],
  [1500, '1.465KiB', '1.5kB', '1.5kB'],
  [1536, '1.5KiB', '1.54kB', '1.536kB'],
  [2480, '2.422KiB', '2.48kB', '2.48kB'],
  [10000, '9.766KiB', '10kB', '10kB'],
  [147456, '144KiB', '147kB', '147.5kB'],
  [999499, '976.1KiB', '999kB', '999.5kB'],
  [999500, '976.1KiB', '1e+03kB', '999.5kB'],
  [999999, '976.6KiB', '1e+03kB', '1000kB'],
  [1000000, '976.6KiB', '1MB', '1MB'],
  [1048575, '1024KiB', '1.05MB', '1.049MB'],
  [1048576, '1MiB', '1.05MB', '1.049MB'],
  [5902336, '5.629MiB', '5.9MB', '5.902MB'],
  [2096103424, '1.952GiB', '2.1GB', '2.096GB'],
  [123456789012, '115GiB', '123GB', '123.5GB'],
  [1099511627776, '1TiB', '1.1TB', '1.1TB'],
  [1125899906842624, '1PiB', '1.13PB', '1.126PB'],
  [1e18, '888.2PiB', '1EB', '1EB'],
];

for (const [bytes, binary, decimal3, decimal4] of SIZES) {
  test(`sizes of ${bytes} bytes match go-units`, (t) => {
    t.is(bytesSize(bytes), binary);
    t.is(humanSizeWithPrecision(bytes, 3), decimal3);
    t.is(humanSize(bytes), decimal4);
  });
}

test('a size that rounds up to the base keeps its unit and prints in exponent form, as docker does', (t) => {
  t.is(humanSizeWithPrecision(999.5, 3), '1e+03B');
  t.is(humanSizeWithPrecision(999500, 3), '1e+03kB');
  t.is(bytesSize(1023.5), '1024B');
});

test('sizes beyond the last unit stay in that unit', (t) => {
  t.is(humanSizeWithPrecision(2.5e27, 3), '2.5e+03YB');
});

// [seconds, HumanDuration]
const DURATIONS: Array<[number, string]> = [
  [0, 'Less than a second'],
  [0.5, 'Less than a second'],
  [1, '1 second'],
  [1.9, '1 second'],
  [2, '2 seconds'],
  [59.9, '59 seconds'],
  [60, 'About a minute'],
  [119, 'About a minute'],
  [120, '2 minutes'],
  [3599, '59 minutes'],
  [3600, 'About an hour'],
  [5399, 'About an hour'],
  [5400, '2 hours'],
  [172799, '2 days'], // hours are rounded: 47.99 → 48
  [1209599, '2 weeks'],
  [5184000, '2 months'],
  [63071999, '1 years'],
  [63072000, '2 years'],
  [1e8, '3 years'],
];

for (const [seconds, text] of DURATIONS) {
  test(`HumanDuration(${seconds}s) is "${text}"`, (t) => {
    t.is(humanDuration(seconds * 1000), text);
  });
}
