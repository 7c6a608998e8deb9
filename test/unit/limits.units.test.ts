import test from 'ava';
import { formatBytes, formatCpuList, parseCpuList, parseGoInt, parseNanoCpus, parseRamInBytes } from '../../server/limits/units';
import { deviceNumbers } from '../../server/limits/devices';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

test('sizes parse like docker\'s RAMInBytes (go-units): binary units, any case, optional b / ib, a space allowed', (t) => {
  const table: Array<[string, number]> = [
    ['32', 32],
    ['32b', 32],
    ['32B', 32],
    ['32k', 32 * KiB],
    ['32K', 32 * KiB],
    ['32kb', 32 * KiB],
    ['32Kb', 32 * KiB],
    ['32KiB', 32 * KiB],
    ['512m', 512 * MiB],
    ['32Mb', 32 * MiB],
    ['64M', 64 * MiB],
    ['1g', GiB],
    ['32Gb', 32 * GiB],
    ['1.5GiB', 1.5 * GiB],
    ['2t', 2 * 1024 * GiB],
    ['1P', 1024 * 1024 * GiB],
    ['32.3', 32],
    ['32.3 mb', Math.trunc(32.3 * MiB)],
    ['0.3MB', Math.trunc(0.3 * MiB)],
    ['10 MB', 10 * MiB],
    ['1e3', 1000],
    ['6291456', 6291456],
    ['0', 0],
  ];
  for (const [text, bytes] of table) t.is(parseRamInBytes(text), bytes, text);
});

test('sizes that RAMInBytes refuses, with its messages', (t) => {
  const table: Array<[string, string]> = [
    ['', "invalid size: ''"],
    ['hello', "invalid size: 'hello'"],
    ['-1', "invalid size: '-1'"],
    ['-32m', "invalid size: '-32m'"],
    [' 32 ', 'strconv.ParseFloat: parsing " 32": invalid syntax'],
    ['32m b', 'strconv.ParseFloat: parsing "32m": invalid syntax'],
    ['1.2.3m', 'strconv.ParseFloat: parsing "1.2.3": invalid syntax'],
    ['32bm', "invalid suffix: 'bm'"],
    ['32x', "invalid suffix: 'x'"],
    ['32mbb', "invalid suffix: 'mbb'"],
    ['32mx', "invalid suffix: 'mx'"],
    ['32kiX', "invalid suffix: 'kix'"],
    ['32MiBs', "invalid suffix: 'MiBs'"],
  ];
  for (const [text, message] of table) t.throws(() => parseRamInBytes(text), { message }, JSON.stringify(text));
  t.is(parseRamInBytes('32mib'), 32 * MiB);
  t.throws(() => parseRamInBytes('99999999p'), { message: /invalid size/ });
});

test('--cpus is an exact rational with at most nanosecond precision, like the docker CLI\'s NanoCPUs', (t) => {
  t.is(parseNanoCpus('0.5'), 500_000_000);
  t.is(parseNanoCpus('1.25'), 1_250_000_000);
  t.is(parseNanoCpus('2'), 2_000_000_000);
  t.is(parseNanoCpus('5e-1'), 500_000_000);
  t.is(parseNanoCpus('1/4'), 250_000_000);
  t.is(parseNanoCpus('.2'), 200_000_000);
  t.is(parseNanoCpus('0.000000001'), 1);
  t.is(parseNanoCpus('-1'), -1_000_000_000);
  t.throws(() => parseNanoCpus('0.0000000001'), { message: 'value is too precise' });
  t.throws(() => parseNanoCpus('1/3'), { message: 'value is too precise' });
  t.throws(() => parseNanoCpus('half'), { message: 'failed to parse half as a rational number' });
  t.throws(() => parseNanoCpus('1/0'), { message: 'failed to parse 1/0 as a rational number' });
  t.throws(() => parseNanoCpus(''), { message: 'failed to parse  as a rational number' });
});

test('integers parse like strconv.ParseInt', (t) => {
  t.is(parseGoInt('100000'), 100000);
  t.is(parseGoInt('-1'), -1);
  t.is(parseGoInt('+7'), 7);
  t.throws(() => parseGoInt('1.5'), { message: 'strconv.ParseInt: parsing "1.5": invalid syntax' });
  t.throws(() => parseGoInt('ten'), { message: 'strconv.ParseInt: parsing "ten": invalid syntax' });
  t.throws(() => parseGoInt('99999999999999999999'), { message: /value out of range/ });
});

test('cpu lists parse to sets and print in the kernel\'s canonical form', (t) => {
  t.deepEqual([...parseCpuList('0-2,5')!], [0, 1, 2, 5]);
  t.deepEqual([...parseCpuList('')!], []);
  t.is(parseCpuList('2-1'), undefined);
  t.is(parseCpuList('a'), undefined);
  t.is(parseCpuList('0-99999'), undefined);
  t.is(formatCpuList(parseCpuList('3,0,1,2,7')!), '0-3,7');
});

test('bytes print like docker (go-units BytesSize)', (t) => {
  t.is(formatBytes(64 * MiB), '64MiB');
  t.is(formatBytes(1.5 * GiB), '1.5GiB');
  t.is(formatBytes(99999744), '95.37MiB');
  t.is(formatBytes(512), '512B');
});

test('device numbers decode Linux dev_t (stat rdev)', (t) => {
  t.deepEqual(deviceNumbers(65024), { major: 254, minor: 0 }); // /dev/vda
  t.deepEqual(deviceNumbers(2049), { major: 8, minor: 1 }); // /dev/sda1
  t.deepEqual(deviceNumbers(64768), { major: 253, minor: 0 });
  // minor ≥ 256 uses the high bits: makedev(259, 300)
  t.deepEqual(deviceNumbers((259 << 8) | (300 & 0xff) | ((300 & ~0xff) << 12)), { major: 259, minor: 300 });
});
