/** How the CLI words its failures: docker 20.10's texts and exit codes (pure parts). */
import test from 'ava';
import { UsageError } from '../../server/cli/args';
import { CliError, clientLookupFailure } from '../../server/cli/errors';
import { checkCpus, checkInt64, checkSize, checkSwapSize, checkUint16 } from '../../server/cli/flag-values';
import { usageFailureText } from '../../server/cli/main';
import { runErrorText } from '../../server/cli/commands/run';
import type { Command } from '../../server/cli/commands/types';

const RUN: Command = { name: 'run', summary: 'Create and run a new container', usage: 'run [OPTIONS] IMAGE [COMMAND] [ARG...]', flags: [], run: async () => 0 };

test('a refused flag: the message and "See \'capstan X --help\'.", exit 125', (t) => {
  t.deepEqual(usageFailureText(new UsageError('unknown flag: --foo'), RUN), { text: "unknown flag: --foo\nSee 'capstan run --help'.\n", code: 125 });
  t.deepEqual(usageFailureText(new UsageError('unknown flag: --foo')), { text: "unknown flag: --foo\nSee 'capstan --help'.\n", code: 125 });
});

test('the wrong number of arguments: the sentence, "See ...", the usage line and summary, exit 1', (t) => {
  t.deepEqual(usageFailureText(new UsageError('"capstan run" requires at least 1 argument.', 'arguments'), RUN), {
    text: `"capstan run" requires at least 1 argument.\nSee 'capstan run --help'.\n\nUsage:  capstan run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nCreate and run a new container\n`,
    code: 1,
  });
});

test('run words a failure as docker run: the CLI\'s name first, one full stop last', (t) => {
  t.is(runErrorText('Error response from daemon: Minimum memory limit allowed is 6MB'), 'capstan: Error response from daemon: Minimum memory limit allowed is 6MB.');
  t.is(runErrorText('Conflict. You have to remove (or rename) that container to be able to reuse that name.'), 'capstan: Conflict. You have to remove (or rename) that container to be able to reuse that name.');
  t.is(runErrorText('capstan: cannot reach the agent'), 'capstan: cannot reach the agent.');
});

test('an unknown container the CLI looked up itself reads "Error: No such container: x"; other errors pass through', (t) => {
  const notFound = new CliError('Error response from daemon: No such container: web', 1, { apiCode: 'no_such_container' });
  const looked = clientLookupFailure(notFound, 'web') as CliError;
  t.is(looked.message, 'Error: No such container: web');
  t.is(looked.exitCode, 1);
  t.is((clientLookupFailure(notFound, 'a\u001b[2Jb') as CliError).message, 'Error: No such container: a\\u001b[2Jb');
  const other = new CliError('Error response from daemon: Container x is not running', 1, { apiCode: 'not_running' });
  t.is(clientLookupFailure(other, 'web'), other);
  const plain = new Error('boom');
  t.is(clientLookupFailure(plain, 'web'), plain);
});

test('flag value checks: docker\'s parse errors, and what they accept', (t) => {
  t.notThrows(() => checkSize('64m'));
  t.throws(() => checkSize('x'), { message: "invalid size: 'x'" });
  t.notThrows(() => checkSwapSize('-1'));
  t.throws(() => checkSwapSize('-2x'));
  t.notThrows(() => checkCpus('1/2'));
  t.throws(() => checkCpus('x'), { message: 'failed to parse x as a rational number' });
  t.throws(() => checkCpus('0.0000000001'), { message: 'value is too precise' });
  t.notThrows(() => checkInt64('-1'));
  t.throws(() => checkInt64('1.5'), { message: 'strconv.ParseInt: parsing "1.5": invalid syntax' });
  t.notThrows(() => checkUint16('65535'));
  t.throws(() => checkUint16('65536'), { message: 'strconv.ParseUint: parsing "65536": value out of range' });
  t.throws(() => checkUint16('-1'), { message: 'strconv.ParseUint: parsing "-1": invalid syntax' });
});
