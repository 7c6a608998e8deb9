import test from 'ava';
import { RuntimeError } from '../../server/runtime/errors';
import { parsePsOutput, splitPsArgs, validatePsArgs } from '../../server/runtime/top';
import { formatTop } from '../../server/cli/commands/top';

const PS = `UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root        4242    4241  0 10:01 ?        00:00:00 sleep 300
root        4243    4242  0 10:01 ?        00:00:00 sh -c echo  two   spaces
`;

test('rows are kept by PID and extra fields join the last column', (t) => {
  const result = parsePsOutput(PS, new Set([4242, 4243]));
  t.deepEqual(result.Titles, ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
  t.deepEqual(result.Processes, [
    ['root', '4242', '4241', '0', '10:01', '?', '00:00:00', 'sleep 300'],
    ['root', '4243', '4242', '0', '10:01', '?', '00:00:00', 'sh -c echo two spaces'],
  ]);
});

test("docker's errors: no PID column, a renamed PID column, a PID that is not a number", (t) => {
  t.is(t.throws(() => parsePsOutput('USER COMMAND\nroot x\n', new Set()), { instanceOf: RuntimeError })!.message, "Couldn't find PID field in ps output");
  t.is(t.throws(() => validatePsArgs('-o user=PID'))!.message, 'specifying "user=PID" is not allowed');
  t.notThrows(() => validatePsArgs('-o pid=PID,comm'));
  t.throws(() => parsePsOutput('PID CMD\nabc x\n', new Set([1])), { instanceOf: RuntimeError });
  t.deepEqual(splitPsArgs(' -o  pid,comm '), ['-o', 'pid,comm']);
});

test('the CLI prints the table like docker top (tabwriter, minimum width 20, padding 3)', (t) => {
  const text = formatTop({ Titles: ['PID', 'CMD'], Processes: [['1', 'sleep 300']] });
  t.is(text, 'PID                 CMD\n1                   sleep 300\n');
});
