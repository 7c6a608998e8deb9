import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import { CgroupParseError } from '../../server/cgroup/parse';
import { parseFirstPid, parseMeminfo, parseNamespaceInode, parseNetDev, parseProcStat, splitFields } from '../../server/procfs';

const PROC_FIXTURES = path.resolve(__dirname, '../../../test/fixtures/proc');
const fixture = (relative: string): string => fs.readFileSync(path.join(PROC_FIXTURES, relative), 'utf8');

test('splitFields splits on runs of spaces and tabs', (t) => {
  t.deepEqual(splitFields('  a  b\tc '), ['a', 'b', 'c']);
  t.deepEqual(splitFields(''), []);
  t.deepEqual(splitFields('   '), []);
});

test('parseProcStat sums the first seven fields of "cpu" and counts cpuN lines, like Docker', (t) => {
  // cpu  20858 0 12900 71258 2012 0 93 266 0 0: steal (266) and the guest fields are left out.
  t.deepEqual(parseProcStat(fixture('stat')), { systemCpuNanoseconds: 107121 * 10_000_000, onlineCpus: 2 });
  t.deepEqual(parseProcStat('cpu  1 2 3 4 5 6 7\n'), { systemCpuNanoseconds: 28 * 10_000_000, onlineCpus: 0 });
});

test('parseProcStat rejects a missing, truncated or non-numeric cpu line', (t) => {
  t.throws(() => parseProcStat(''), { instanceOf: CgroupParseError, message: '/proc/stat: no aggregate "cpu" line' });
  t.throws(() => parseProcStat('cpu0 1 2 3 4 5 6 7\n'), { instanceOf: CgroupParseError, message: /no aggregate "cpu" line/ });
  t.throws(() => parseProcStat('cpu  1 2 3\n'), { instanceOf: CgroupParseError, message: /truncated "cpu" line: 3 fields, expected at least 7/ });
  t.throws(() => parseProcStat('cpu  1 2 x 4 5 6 7\n'), { instanceOf: CgroupParseError, message: /expected a tick count, got "x"/ });
});

test('parseProcStat works on this host', (t) => {
  const stat = parseProcStat(fs.readFileSync('/proc/stat', 'utf8'));
  t.true(stat.systemCpuNanoseconds > 0);
  t.true(stat.onlineCpus >= 1);
});

test('parseMeminfo converts kB to bytes', (t) => {
  t.deepEqual(parseMeminfo(fixture('meminfo')), { memoryTotalBytes: 24684096 * 1024, memoryAvailableBytes: 23625868 * 1024 });
  // Kernels before 3.14 have no MemAvailable: unknown, not zero.
  t.deepEqual(parseMeminfo('MemTotal:       1000 kB\nMemFree:  10 kB\n'), { memoryTotalBytes: 1024000 });
  const live = parseMeminfo(fs.readFileSync('/proc/meminfo', 'utf8'));
  t.true(live.memoryTotalBytes! > 0);
});

test('parseMeminfo rejects empty files and malformed values', (t) => {
  t.throws(() => parseMeminfo(''), { instanceOf: CgroupParseError, message: '/proc/meminfo: file is empty' });
  t.throws(() => parseMeminfo('MemTotal:  abc kB\n'), { instanceOf: CgroupParseError, message: /got "abc"/ });
  t.throws(() => parseMeminfo('MemTotal:  1000\n'), { instanceOf: CgroupParseError, message: /expected "Key: N kB"/ });
});

test('parseNetDev reads every interface, lo included', (t) => {
  const host = parseNetDev(fixture('1/net/dev'));
  t.deepEqual(host.map((i) => i.name), ['lo', 'ifb0', 'ifb1', 'eth0']);
  t.deepEqual(host[3], {
    name: 'eth0',
    rxBytes: 238846266,
    rxPackets: 6200,
    rxErrors: 0,
    rxDropped: 0,
    txBytes: 609990,
    txPackets: 4228,
    txErrors: 0,
    txDropped: 0,
  });
  const container = parseNetDev(fixture('4242/net/dev'));
  t.deepEqual(container[1], {
    name: 'eth0',
    rxBytes: 1048576,
    rxPackets: 812,
    rxErrors: 1,
    rxDropped: 2,
    txBytes: 524288,
    txPackets: 640,
    txErrors: 3,
    txDropped: 4,
  });
});

test('parseNetDev handles a name glued to its first counter and a file with no interfaces', (t) => {
  const header = 'Inter-|   Receive\n face |bytes\n';
  const [eth] = parseNetDev(header + '  eth0:1234567890 5 0 0 0 0 0 0 99 6 0 0 0 0 0 0\n');
  t.is(eth!.name, 'eth0');
  t.is(eth!.rxBytes, 1234567890);
  t.is(eth!.txBytes, 99);
  t.deepEqual(parseNetDev(header), []);
});

test('parseNetDev on this process', (t) => {
  const interfaces = parseNetDev(fs.readFileSync('/proc/self/net/dev', 'utf8'));
  t.true(interfaces.some((i) => i.name === 'lo'));
});

test('parseNetDev rejects truncated and headerless files', (t) => {
  const header = 'Inter-|   Receive\n face |bytes\n';
  t.throws(() => parseNetDev(''), { instanceOf: CgroupParseError, message: /missing the two header lines/ });
  t.throws(() => parseNetDev('lo: 1 2 3\n'), { instanceOf: CgroupParseError, message: /missing the two header lines/ });
  t.throws(() => parseNetDev(header + '  eth0: 1 2 3'), { instanceOf: CgroupParseError, message: /truncated line for "eth0": 3 counters, expected 16/ });
  t.throws(() => parseNetDev(header + 'garbage\n'), { instanceOf: CgroupParseError, message: /expected "name: counters"/ });
  t.throws(() => parseNetDev(header + '  lo: 1 2 3 4 5 6 7 8 x 10 11 12 13 14 15 16\n'), { instanceOf: CgroupParseError, message: /got "x"/ });
});

test('parseFirstPid: first line of cgroup.procs, undefined when empty', (t) => {
  t.is(parseFirstPid('4242\n4250\n4251\n'), 4242);
  t.is(parseFirstPid('1'), 1);
  t.is(parseFirstPid(''), undefined);
  t.is(parseFirstPid('\n'), undefined);
  t.throws(() => parseFirstPid('abc\n'), { instanceOf: CgroupParseError, message: 'cgroup.procs: expected a PID, got "abc"' });
  t.throws(() => parseFirstPid('0\n'), { instanceOf: CgroupParseError, message: /expected a PID, got "0"/ });
});

test('parseNamespaceInode reads the inode from a namespace link', (t) => {
  t.is(parseNamespaceInode(fs.readlinkSync(path.join(PROC_FIXTURES, '4242/ns/net'))), 4026532301);
  t.is(parseNamespaceInode(fs.readlinkSync(path.join(PROC_FIXTURES, '1/ns/net'))), parseNamespaceInode(fs.readlinkSync(path.join(PROC_FIXTURES, '812/ns/net'))));
  t.is(parseNamespaceInode(fs.readlinkSync('/proc/self/ns/net')) > 0, true);
  t.is(parseNamespaceInode('pid:[4026531836]', 'pid'), 4026531836);
  t.throws(() => parseNamespaceInode('net:[abc]'), { instanceOf: CgroupParseError, message: /ns\/net: expected a namespace inode number, got "abc"/ });
  t.throws(() => parseNamespaceInode('mnt:[1]'), { instanceOf: CgroupParseError, message: /expected "net:\[INODE\]"/ });
});
