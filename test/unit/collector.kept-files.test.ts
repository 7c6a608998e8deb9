import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { budgetRefusal, chooseKeptFiles, dueFiles, keptFileBudgetFromLimit, largestBudgetFor, openFileLimitForBudget, parseKeptFileBudget } from '../../server/collector/kept-files';
import { KeptFiles } from '../../server/native';

test('the budget is half the soft limit, or every file read each tick while 4096 fds stay free, and nothing for a limit that makes no sense', (t) => {
  t.is(keptFileBudgetFromLimit(20000), 10000);
  t.is(keptFileBudgetFromLimit(1025), 512);
  t.is(keptFileBudgetFromLimit(0), 0);
  t.is(keptFileBudgetFromLimit(Number.NaN), 0);
  // More files read every tick than half the limit holds: all of them, while 4096 fds stay free.
  t.is(keptFileBudgetFromLimit(20000, 11003), 11003);
  t.is(keptFileBudgetFromLimit(20000, 19000), 20000 - 4096);
  t.is(keptFileBudgetFromLimit(20000, 6000), 10000, 'never under half');
  t.is(keptFileBudgetFromLimit(1025, 5000), 512, 'a small limit keeps its half');
});

test('a hand-given budget is a whole number, with a message naming the flag otherwise', (t) => {
  t.is(parseKeptFileBudget('0', '--sweep-fd-budget'), 0);
  t.is(parseKeptFileBudget(' 250 ', '--sweep-fd-budget'), 250);
  t.throws(() => parseKeptFileBudget('-1', '--sweep-fd-budget'), { message: /--sweep-fd-budget must be a whole number/ });
  t.throws(() => parseKeptFileBudget('ten', 'CAPSTAN_SWEEP_FD_BUDGET'), { message: /CAPSTAN_SWEEP_FD_BUDGET must be a whole number/ });
});

test('a hand-given budget must leave the agent 4096 fds, or half a smaller limit, and the refusal says what to do', (t) => {
  t.is(largestBudgetFor(20000), 15904);
  t.is(largestBudgetFor(1024), 512, 'a small limit: half for the agent');
  t.is(largestBudgetFor(1), 0);
  t.is(largestBudgetFor(0), 0);
  t.is(openFileLimitForBudget(130000), 134096);
  const refusal = budgetRefusal(130000, { soft: 20000, hard: 20000 }, 'setrlimit: EPERM');
  t.regex(refusal, /budget of 130000 needs an open-file limit \(RLIMIT_NOFILE\) of at least 134096/);
  t.regex(refusal, /the limit is 20000 \(hard 20000\) and raising it failed \(setrlimit: EPERM;.*CAP_SYS_RESOURCE/);
  t.regex(refusal, /at most 15904/);
  t.notRegex(budgetRefusal(30000, { soft: 20000, hard: 40000 }, undefined), /raising it failed/);
});

test('within the budget every keepable file is kept', (t) => {
  t.deepEqual([...chooseKeptFiles([-1, -1, -1], [1, 0, 1], 2)], [1, 0, 1]);
});

test('past the budget the least recently read fall back, ties to the later batch entries', (t) => {
  // Files 1 and 3 are rarely changing ones read at tick 0; the rest were read at tick 9.
  t.deepEqual([...chooseKeptFiles([9, 0, 9, 0, 9], [1, 1, 1, 1, 1], 3)], [1, 0, 1, 0, 1]);
  t.deepEqual([...chooseKeptFiles([9, 9, 9, 9], [1, 1, 1, 1], 2)], [1, 1, 0, 0]);
  t.deepEqual([...chooseKeptFiles([9, 9], [0, 1], 0)], [0, 0]);
});

test('rarely changing files are due every Nth tick, when they have no value, or on refresh', (t) => {
  const rarely = [0, 1, 1];
  const has = (): boolean => true;
  const none = (): boolean => false;
  t.deepEqual([...dueFiles(10, 10, rarely, has, none)], [1, 1, 1]);
  t.deepEqual([...dueFiles(11, 10, rarely, has, none)], [1, 0, 0]);
  t.deepEqual([...dueFiles(11, 10, rarely, (i) => i !== 2, none)], [1, 0, 1]);
  t.deepEqual([...dueFiles(11, 10, rarely, has, (i) => i === 1)], [1, 1, 0]);
  t.deepEqual([...dueFiles(11, 1, rarely, has, none)], [1, 1, 1]);
});

test('KeptFiles re-reads kept files with pread, skips what is not due, and opens the rest per read', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-kept-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const files = ['a', 'b', 'c'].map((name) => path.join(dir, name));
  files.forEach((file, index) => fs.writeFileSync(file, `value ${index}\n`));
  const kept = new KeptFiles();
  t.teardown(() => kept.close());
  kept.assign([...files, path.join(dir, 'missing')], Uint8Array.from([1, 1, 0, 1]));

  const first = await kept.read();
  t.deepEqual(first.results, ['value 0\n', 'value 1\n', 'value 2\n', 2]);
  t.is(first.kept, 0);
  t.is(first.opened, 3);

  // In place (same inode): a kept fd sees the new text because pread starts at 0 every time.
  fs.writeFileSync(files[0]!, 'changed, and longer than before\n');
  const second = await kept.read(65536, Uint8Array.from([1, 0, 1, 1]));
  t.deepEqual(second.results, ['changed, and longer than before\n', 'value 2\n', 2], 'one result per due file, in order');
  t.is(second.kept, 1);
  t.is(second.opened, 1);

  // Reassigning carries kept fds over by path and closes the others.
  kept.assign([files[1]!, files[0]!], Uint8Array.from([1, 1]));
  const third = await kept.read();
  t.deepEqual(third.results, ['value 1\n', 'changed, and longer than before\n']);
  t.is(third.kept, 2);
  t.throws(() => kept.read(65536, new Uint8Array(3)), { instanceOf: TypeError });
  kept.close();
  t.throws(() => kept.assign([], new Uint8Array(0)), { message: /already closed/ });
});

test('KeptFiles: a single-record file ends at a short read, and one longer than a read still comes whole', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-kept-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const small = path.join(dir, 'small');
  const large = path.join(dir, 'large');
  fs.writeFileSync(small, '42\n');
  // Past the native side's 64 KiB per read: the reads that come back full go on.
  const largeText = 'x'.repeat(200 * 1024 + 7);
  fs.writeFileSync(large, largeText);
  const kept = new KeptFiles();
  t.teardown(() => kept.close());
  kept.assign([small, large, small], Uint8Array.from([1, 1, 0]), Uint8Array.from([1, 1, 1]));
  for (let pass = 0; pass < 2; pass++) {
    const read = await kept.read(1024 * 1024);
    t.deepEqual(read.results, ['42\n', largeText, '42\n'], `pass ${pass}`);
  }
  t.throws(() => kept.assign([small], Uint8Array.from([1]), new Uint8Array(2)), { instanceOf: TypeError, message: /singleRecord must be a Uint8Array of 1 flags/ });
});
