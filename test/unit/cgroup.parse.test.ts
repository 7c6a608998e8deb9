import test from 'ava';
import {
  CgroupParseError,
  cpuWeightToShares,
  parseBlkioStat,
  parseCfsPeriod,
  parseCfsQuota,
  parseCpuacctStat,
  parseCpuacctUsage,
  parseCpuacctUsagePercpu,
  parseCpuMax,
  parseCpuShares,
  parseCpuWeight,
  parseFlatKeyed,
  pickFlatKeyed,
  parseIoStat,
  parseMemoryCurrent,
  parseMemoryEvents,
  parseMemoryFailcnt,
  parseMemoryLimitInBytes,
  parseMemoryLow,
  parseMemoryMax,
  parseMemoryMaxUsageInBytes,
  parseMemoryPeak,
  parseMemorySoftLimitInBytes,
  parseMemorySwapCurrent,
  parseMemorySwapMax,
  parseMemswLimitInBytes,
  parseMemoryUsageInBytes,
  parseOomControl,
  parsePidsCurrent,
  parsePidsMax,
  parseV1CpuStat,
  parseV1MemoryStat,
  parseV2CpuStat,
  parseV2MemoryStat,
} from '../../server/cgroup/parse';

/** Asserts a CgroupParseError with its code and a message matching `message`. */
function throwsParse(t: import('ava').ExecutionContext, fn: () => unknown, message: RegExp): void {
  const error = t.throws(fn, { instanceOf: CgroupParseError, message });
  t.is(error?.code, 'ERR_CGROUP_PARSE');
  t.is(error?.name, 'CgroupParseError');
}

// ------------------------------------------------------------------------------------------------
// Single-value files
// ------------------------------------------------------------------------------------------------

test('the error says what was wrong, names the file and quotes the value', (t) => {
  const error = t.throws(() => parseCpuacctUsage('12ab\n'), { instanceOf: CgroupParseError });
  t.is(error?.message, 'cpuacct.usage: expected an unsigned integer, got "12ab"');
  t.is(error?.file, 'cpuacct.usage');
});

test('a garbage value is quoted only in part', (t) => {
  const error = t.throws(() => parseMemoryCurrent('x'.repeat(5000)), { instanceOf: CgroupParseError });
  t.true(error!.message.length < 100);
});

test('unsigned files: trailing newline, whitespace, non-numeric, negative, empty', (t) => {
  t.is(parseCpuacctUsage('56114994319\n'), 56114994319);
  t.is(parseCpuacctUsage('56114994319'), 56114994319);
  t.is(parseMemoryUsageInBytes(' 336134144 \n'), 336134144);
  t.is(parseMemoryMaxUsageInBytes('651276288\n'), 651276288);
  t.is(parseMemoryFailcnt('0\n'), 0);
  t.is(parseMemoryCurrent('417792\n'), 417792);
  t.is(parseMemorySwapCurrent('0\n'), 0);
  t.is(parseMemoryPeak('32768000\n'), 32768000);
  t.is(parsePidsCurrent('3\n'), 3);
  throwsParse(t, () => parseCpuacctUsage(''), /cpuacct\.usage: file is empty/);
  throwsParse(t, () => parseCpuacctUsage('\n'), /file is empty/);
  throwsParse(t, () => parseMemoryUsageInBytes('-1\n'), /expected an unsigned integer, got "-1"/);
  throwsParse(t, () => parseMemoryUsageInBytes('1.5\n'), /got "1\.5"/);
  throwsParse(t, () => parseMemoryUsageInBytes('0x10\n'), /got "0x10"/);
  throwsParse(t, () => parseMemoryCurrent('max\n'), /memory\.current: expected an unsigned integer, got "max"/);
  throwsParse(t, () => parsePidsCurrent('1\n2\n'), /got "1\\n2"/);
});

test('v1 limits: 2^62 and above mean unlimited (null), like cAdvisor', (t) => {
  t.is(parseMemoryLimitInBytes('9223372036854771712\n'), null);
  t.is(parseMemoryLimitInBytes('4611686018427387904\n'), null); // exactly 2^62
  t.is(parseMemoryLimitInBytes('67108864\n'), 67108864);
  t.is(parseMemorySoftLimitInBytes('9223372036854771712\n'), null);
  t.is(parseMemorySoftLimitInBytes('33554432\n'), 33554432);
  t.is(parseMemswLimitInBytes('9223372036854771712\n'), null);
  t.is(parseMemswLimitInBytes('134217728\n'), 134217728);
  throwsParse(t, () => parseMemoryLimitInBytes('max\n'), /memory\.limit_in_bytes: expected an unsigned integer, got "max"/);
  throwsParse(t, () => parseMemswLimitInBytes(''), /file is empty/);
});

test('v2 limits and pids.max: "max" is null, numbers are numbers', (t) => {
  t.is(parseMemoryMax('max\n'), null);
  t.is(parseMemoryMax('67108864\n'), 67108864);
  t.is(parseMemoryLow('0\n'), 0);
  t.is(parseMemoryLow('max\n'), null);
  t.is(parseMemorySwapMax('max\n'), null);
  t.is(parseMemorySwapMax('0\n'), 0);
  t.is(parsePidsMax('max\n'), null);
  t.is(parsePidsMax('100\n'), 100);
  throwsParse(t, () => parsePidsMax('MAX\n'), /pids\.max: expected an unsigned integer or "max", got "MAX"/);
  throwsParse(t, () => parsePidsMax('ma'), /got "ma"/);
  throwsParse(t, () => parseMemoryMax(''), /memory\.max: file is empty/);
});

// ------------------------------------------------------------------------------------------------
// Flat-keyed files
// ------------------------------------------------------------------------------------------------

test('parseFlatKeyed returns every key', (t) => {
  const values = parseFlatKeyed('nr_periods 34\nnr_throttled 27\nthrottled_time 1752946472\n', 'cpu.stat');
  t.deepEqual([...values], [['nr_periods', 34], ['nr_throttled', 27], ['throttled_time', 1752946472]]);
  t.is(parseFlatKeyed('').size, 0);
  throwsParse(t, () => parseFlatKeyed('a 1\nb\n', 'x.stat'), /x\.stat: truncated line "b"/);
  throwsParse(t, () => parseFlatKeyed('a 1\nb \n', 'x.stat'), /truncated line "b "/);
  throwsParse(t, () => parseFlatKeyed('a one\n', 'x.stat'), /x\.stat: expected an unsigned integer for "a", got "one"/);
});

test('cpuacct.stat converts USER_HZ ticks to nanoseconds', (t) => {
  t.deepEqual(parseCpuacctStat('user 3604\nsystem 2006\n'), { userNanoseconds: 36040000000, systemNanoseconds: 20060000000 });
  throwsParse(t, () => parseCpuacctStat(''), /cpuacct\.stat: file is empty/);
  throwsParse(t, () => parseCpuacctStat('user 38\nsys'), /truncated line "sys"/);
  throwsParse(t, () => parseCpuacctStat('user x\nsystem 1\n'), /for "user", got "x"/);
});

test('v1 cpu.stat: throttling counters; newer keys are ignored', (t) => {
  const text = 'nr_periods 34\nnr_throttled 27\nthrottled_time 1752946472\nnr_bursts 0\nburst_time 0\n';
  t.deepEqual(parseV1CpuStat(text), { periods: 34, throttledPeriods: 27, throttledNanoseconds: 1752946472 });
  // An unknown key is skipped even when its value is not a number.
  t.deepEqual(parseV1CpuStat('nr_periods 1\nsome_future_key -3\n'), { periods: 1 });
  throwsParse(t, () => parseV1CpuStat('nr_periods 34\nnr_thr'), /cpu\.stat: truncated line "nr_thr"/);
  throwsParse(t, () => parseV1CpuStat('nr_periods 3x\n'), /for "nr_periods", got "3x"/);
});

test('v1 memory.stat uses the total_* keys', (t) => {
  const text = [
    'cache 1', 'rss 2', 'mapped_file 3', 'swap 4', 'pgfault 5', 'pgmajfault 6', 'inactive_file 7', 'active_file 8',
    'hierarchical_memory_limit 9223372036854771712',
    'total_cache 258228224', 'total_rss 78204928', 'total_rss_huge 0', 'total_mapped_file 53932032', 'total_swap 0',
    'total_pgfault 1387251', 'total_pgmajfault 287', 'total_inactive_file 189218816', 'total_active_file 60010496', '',
  ].join('\n');
  t.deepEqual(parseV1MemoryStat(text), {
    cacheBytes: 258228224,
    rssBytes: 78204928,
    mappedFileBytes: 53932032,
    swapBytes: 0,
    pgfault: 1387251,
    pgmajfault: 287,
    inactiveFileBytes: 189218816,
    activeFileBytes: 60010496,
  });
  // Without swap accounting there is no total_swap: the value is absent, not 0.
  t.deepEqual(parseV1MemoryStat('total_rss 1\n'), { rssBytes: 1 });
  throwsParse(t, () => parseV1MemoryStat('total_rss 1\ntotal_inactive_fi'), /memory\.stat: truncated line "total_inactive_fi"/);
  throwsParse(t, () => parseV1MemoryStat('total_rss abc\n'), /for "total_rss", got "abc"/);
  throwsParse(t, () => parseV1MemoryStat(''), /memory\.stat: file is empty/);
});

test('memory.oom_control: flags and the oom_kill count (absent before 4.13)', (t) => {
  t.deepEqual(parseOomControl('oom_kill_disable 0\nunder_oom 0\noom_kill 1\n'), { oomKillDisable: false, underOom: false, oomKill: 1 });
  t.deepEqual(parseOomControl('oom_kill_disable 1\nunder_oom 1\n'), { oomKillDisable: true, underOom: true });
  throwsParse(t, () => parseOomControl('oom_kill_disable 2\n'), /expected 0 or 1 for "oom_kill_disable", got "2"/);
  throwsParse(t, () => parseOomControl('oom_kill_disable 0\nunder_oom'), /truncated line "under_oom"/);
});

test('v2 cpu.stat converts microseconds to nanoseconds; root lacks the throttling keys', (t) => {
  const text = 'usage_usec 719472\nuser_usec 483855\nsystem_usec 235616\nnr_periods 38\nnr_throttled 35\nthrottled_usec 2784018\nnr_bursts 0\nburst_usec 0\n';
  t.deepEqual(parseV2CpuStat(text), {
    usageNanoseconds: 719472000,
    userNanoseconds: 483855000,
    systemNanoseconds: 235616000,
    periods: 38,
    throttledPeriods: 35,
    throttledNanoseconds: 2784018000,
  });
  t.deepEqual(parseV2CpuStat('usage_usec 1\nuser_usec 2\nsystem_usec 3\nnice_usec 0\n'), {
    usageNanoseconds: 1000,
    userNanoseconds: 2000,
    systemNanoseconds: 3000,
  });
  throwsParse(t, () => parseV2CpuStat('usage_usec 12ab\n'), /cpu\.stat: expected an unsigned integer for "usage_usec", got "12ab"/);
  throwsParse(t, () => parseV2CpuStat('usage_usec 1\nuser_us'), /truncated line "user_us"/);
});

test('v2 memory.stat maps anon/file/file_mapped', (t) => {
  const text = 'anon 53248\nfile 1024\nkernel 45056\nfile_mapped 8192\nfile_dirty 0\ninactive_file 512\nactive_file 256\npgfault 343\npgmajfault 2\nthp_fault_alloc 0\n';
  t.deepEqual(parseV2MemoryStat(text), {
    rssBytes: 53248,
    cacheBytes: 1024,
    mappedFileBytes: 8192,
    inactiveFileBytes: 512,
    activeFileBytes: 256,
    pgfault: 343,
    pgmajfault: 2,
  });
  throwsParse(t, () => parseV2MemoryStat('anon 1\nthp_collaps'), /truncated line "thp_collaps"/);
});

test('memory.events: all six counters; oom_group_kill may be missing', (t) => {
  t.deepEqual(parseMemoryEvents('low 0\nhigh 1\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n'), {
    low: 0,
    high: 1,
    max: 12,
    oom: 1,
    oomKill: 1,
    oomGroupKill: 0,
  });
  t.deepEqual(parseMemoryEvents('low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n'), { low: 0, high: 0, max: 0, oom: 0, oomKill: 0 });
  throwsParse(t, () => parseMemoryEvents(''), /memory\.events: file is empty/);
});

// ------------------------------------------------------------------------------------------------
// CPU single values
// ------------------------------------------------------------------------------------------------

test('cpuacct.usage_percpu: trailing space, one value per CPU', (t) => {
  t.deepEqual(parseCpuacctUsagePercpu('23556231701 32590010329 \n'), [23556231701, 32590010329]);
  t.deepEqual(parseCpuacctUsagePercpu('5'), [5]);
  throwsParse(t, () => parseCpuacctUsagePercpu(' \n'), /cpuacct\.usage_percpu: file is empty/);
  throwsParse(t, () => parseCpuacctUsagePercpu('1 two 3\n'), /got "two"/);
});

test('cpu.cfs_quota_us: -1 is null; other negatives are errors', (t) => {
  t.is(parseCfsQuota('-1\n'), null);
  t.is(parseCfsQuota('20000\n'), 20000);
  throwsParse(t, () => parseCfsQuota('-5\n'), /cpu\.cfs_quota_us: expected -1 or a positive quota, got "-5"/);
  throwsParse(t, () => parseCfsQuota('-\n'), /expected an integer, got "-"/);
  throwsParse(t, () => parseCfsQuota('max\n'), /got "max"/);
  throwsParse(t, () => parseCfsQuota(''), /file is empty/);
});

test('cpu.cfs_period_us and cpu.shares', (t) => {
  t.is(parseCfsPeriod('100000\n'), 100000);
  t.is(parseCpuShares('1024\n'), 1024);
  throwsParse(t, () => parseCfsPeriod('10O000\n'), /cpu\.cfs_period_us: expected an unsigned integer, got "10O000"/);
  throwsParse(t, () => parseCpuShares(''), /cpu\.shares: file is empty/);
});

test('cpu.max: "max PERIOD" and "QUOTA PERIOD"', (t) => {
  t.deepEqual(parseCpuMax('max 100000\n'), { quotaMicroseconds: null, periodMicroseconds: 100000 });
  t.deepEqual(parseCpuMax('20000 100000\n'), { quotaMicroseconds: 20000, periodMicroseconds: 100000 });
  throwsParse(t, () => parseCpuMax('max\n'), /cpu\.max: expected "\$QUOTA \$PERIOD", got "max"/);
  throwsParse(t, () => parseCpuMax('20000 abc\n'), /expected a period \(an unsigned integer\), got "abc"/);
  throwsParse(t, () => parseCpuMax('-1 100000\n'), /expected a quota/);
  throwsParse(t, () => parseCpuMax(''), /file is empty/);
});

test('cpu.weight and its conversion back to shares (cAdvisor formula)', (t) => {
  t.is(parseCpuWeight('100\n'), 100);
  t.is(cpuWeightToShares(100), 2597);
  t.is(cpuWeightToShares(1), 2);
  t.is(cpuWeightToShares(10000), 262144);
  throwsParse(t, () => parseCpuWeight('0\n'), /cpu\.weight: expected a weight from 1 to 10000, got 0/);
  throwsParse(t, () => parseCpuWeight('10001\n'), /got 10001/);
  throwsParse(t, () => parseCpuWeight('max\n'), /got "max"/);
});

// ------------------------------------------------------------------------------------------------
// Block I/O
// ------------------------------------------------------------------------------------------------

test('v1 blkio: Read/Write per device, other ops and totals skipped, ops case-insensitive', (t) => {
  const text = [
    '254:0 Read 20971520', '254:0 Write 20971520', '254:0 Sync 62914560', '254:0 Async 0', '254:0 Discard 20971520', '254:0 Total 62914560',
    '8:16 read 4096', '8:16 WRITE 0',
    'Total 62918656', '',
  ].join('\n');
  t.deepEqual(parseBlkioStat(text), [
    { major: 254, minor: 0, read: 20971520, write: 20971520 },
    { major: 8, minor: 16, read: 4096, write: 0 },
  ]);
  t.deepEqual(parseBlkioStat('Total 0\n'), []);
  t.deepEqual(parseBlkioStat(''), []);
});

test('v1 blkio: malformed lines', (t) => {
  const file = 'blkio.throttle.io_serviced_recursive';
  throwsParse(t, () => parseBlkioStat('254:0 Read 1\n254:0 Wri', file), /blkio\.throttle\.io_serviced_recursive: truncated line "254:0 Wri"/);
  throwsParse(t, () => parseBlkioStat('254:0 Read\n'), /truncated line "254:0 Read"/);
  throwsParse(t, () => parseBlkioStat('254:0 Read 12ab\n'), /expected an unsigned integer for "254:0 Read", got "12ab"/);
  throwsParse(t, () => parseBlkioStat('sda Read 1\n'), /expected a device "MAJOR:MINOR", got "sda"/);
  throwsParse(t, () => parseBlkioStat('Total x\n'), /expected a total, got "x"/);
});

test('v2 io.stat: known keys per device, unknown keys skipped', (t) => {
  const text = '254:0 rbytes=20971520 wbytes=1024 rios=20 wios=1 dbytes=0 dios=0\n7:0 rbytes=1105920 wbytes=0 rios=52 wios=0 dbytes=0 dios=0 cost.vrate=100.00 use_delay=0\n';
  t.deepEqual(parseIoStat(text), [
    { major: 254, minor: 0, readBytes: 20971520, writeBytes: 1024, readOps: 20, writeOps: 1 },
    { major: 7, minor: 0, readBytes: 1105920, writeBytes: 0, readOps: 52, writeOps: 0 },
  ]);
  t.deepEqual(parseIoStat(''), []);
  t.deepEqual(parseIoStat('8:0\n'), [{ major: 8, minor: 0 }]);
});

test('v2 io.stat: malformed lines', (t) => {
  throwsParse(t, () => parseIoStat('254:0 rbytes=1 wby'), /io\.stat: truncated field "wby" on device 254:0/);
  throwsParse(t, () => parseIoStat('254:0 rbytes=\n'), /truncated field "rbytes="/);
  throwsParse(t, () => parseIoStat('254:0 rbytes=abc\n'), /expected an unsigned integer for "rbytes", got "abc"/);
  throwsParse(t, () => parseIoStat('254 rbytes=1\n'), /expected a device "MAJOR:MINOR", got "254"/);
  throwsParse(t, () => parseIoStat('254:x rbytes=1\n'), /expected a device minor number, got "x"/);
});

test('pickFlatKeyed: values of the wanted keys in order, nothing for the rest', (t) => {
  const text = 'a 1\nbb 2\nc 3\nccc 99999999999999999\n';
  t.deepEqual(pickFlatKeyed('x.stat', text, ['c', 'missing', 'bb', 'ccc', '']), [3, undefined, 2, 99999999999999999, undefined]);
  t.deepEqual(pickFlatKeyed('x.stat', '', ['a'], true), [undefined]);
  throwsParse(t, () => pickFlatKeyed('x.stat', '', ['a']), /x\.stat: file is empty/);
  throwsParse(t, () => pickFlatKeyed('x.stat', ' 5\n', ['']), /x\.stat: line without a key: " 5"/);
  throwsParse(t, () => pickFlatKeyed('x.stat', 'a 1\nb', ['a']), /truncated line "b"/);
  throwsParse(t, () => pickFlatKeyed('x.stat', 'a -1\n', ['a']), /expected an unsigned integer for "a", got "-1"/);
});
