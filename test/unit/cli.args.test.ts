/** The command-line parser: docker/pflag conventions. */
import test from 'ava';
import { UsageError, flagBool, flagList, flagString, formatFlagHelp, parseArgs, type FlagSpec } from '../../server/cli/args';

const SPECS: FlagSpec[] = [
  { name: 'all', short: 'a', kind: 'bool', description: 'Show all' },
  { name: 'quiet', short: 'q', kind: 'bool', description: 'Only IDs' },
  { name: 'format', short: 'f', kind: 'string', description: 'Format' },
  { name: 'label', short: 'l', kind: 'list', description: 'Label' },
  { name: 'no-stream', kind: 'bool', description: 'One frame' },
  { name: 'token', kind: 'string', description: 'Secret', hidden: true },
];

test('long and short booleans', (t) => {
  const args = parseArgs(['--all', '-q', '--no-stream'], SPECS);
  t.true(flagBool(args, 'all'));
  t.true(flagBool(args, 'quiet'));
  t.true(flagBool(args, 'no-stream'));
  t.false(flagBool(args, 'label'));
});

test('grouped short flags, with a value-taking flag last', (t) => {
  const args = parseArgs(['-aq'], SPECS);
  t.true(flagBool(args, 'all') && flagBool(args, 'quiet'));
  t.is(flagString(parseArgs(['-aqf', '{{.ID}}'], SPECS), 'format'), '{{.ID}}');
  t.is(flagString(parseArgs(['-af{{.ID}}'], SPECS), 'format'), '{{.ID}}');
});

test('string values: separate, with =, attached to a short flag, or -f=value', (t) => {
  t.is(flagString(parseArgs(['--format', 'json'], SPECS), 'format'), 'json');
  t.is(flagString(parseArgs(['--format=table {{.ID}}'], SPECS), 'format'), 'table {{.ID}}');
  t.is(flagString(parseArgs(['--format='], SPECS), 'format'), '');
  t.is(flagString(parseArgs(['-fjson'], SPECS), 'format'), 'json');
  t.is(flagString(parseArgs(['-f=json'], SPECS), 'format'), 'json');
  // A value that looks like a flag is still the value, as in pflag.
  t.is(flagString(parseArgs(['--format', '--all'], SPECS), 'format'), '--all');
});

test('booleans accept =true / =false', (t) => {
  t.false(flagBool(parseArgs(['--all=false'], SPECS), 'all'));
  t.true(flagBool(parseArgs(['--all=1'], SPECS), 'all'));
  t.false(flagBool(parseArgs(['-a=f'], SPECS), 'all'));
  t.throws(() => parseArgs(['--all=maybe'], SPECS), {
    instanceOf: UsageError,
    message: 'invalid argument "maybe" for "-a, --all" flag: strconv.ParseBool: parsing "maybe": invalid syntax',
  });
});

test('repeated flags: a list collects every value, a string keeps the last', (t) => {
  const args = parseArgs(['-l', 'a=1', '--label=b=2', '--format', 'x', '--format', 'y'], SPECS);
  t.deepEqual(flagList(args, 'label'), ['a=1', 'b=2']);
  t.is(flagString(args, 'format'), 'y');
  t.deepEqual(flagList(parseArgs([], SPECS), 'label'), []);
});

test('flags and positionals may be interleaved; "--" ends the flags; "-" is a positional', (t) => {
  const args = parseArgs(['web', '--all', 'db', '--', '--format', '-a', '-'], SPECS);
  t.deepEqual(args.positionals, ['web', 'db', '--format', '-a', '-']);
  t.true(flagBool(args, 'all'));
  t.is(flagString(args, 'format'), undefined);
});

test('stopAtFirstPositional leaves the command and its arguments alone', (t) => {
  const args = parseArgs(['--token', 's3cret', 'stats', '--all', 'web'], SPECS, { stopAtFirstPositional: true });
  t.is(flagString(args, 'token'), 's3cret');
  t.false(flagBool(args, 'all'));
  t.deepEqual(args.positionals, ['stats', '--all', 'web']);
});

test('errors use pflag\'s wording', (t) => {
  t.throws(() => parseArgs(['--x'], SPECS), { instanceOf: UsageError, message: 'unknown flag: --x' });
  t.throws(() => parseArgs(['--x=1'], SPECS), { instanceOf: UsageError, message: 'unknown flag: --x' });
  t.throws(() => parseArgs(['-az'], SPECS), { instanceOf: UsageError, message: "unknown shorthand flag: 'z' in -az" });
  t.throws(() => parseArgs(['--format'], SPECS), { instanceOf: UsageError, message: 'flag needs an argument: --format' });
  t.throws(() => parseArgs(['-f'], SPECS), { instanceOf: UsageError, message: "flag needs an argument: 'f' in -f" });
});

test('help lists visible flags in aligned columns', (t) => {
  // The description column starts 3 spaces after the longest flag ("  -f, --format string").
  const line = (flag: string, text: string): string => flag.padEnd(24) + text;
  t.is(
    formatFlagHelp(SPECS),
    [
      line('  -a, --all', 'Show all'),
      line('  -q, --quiet', 'Only IDs'),
      line('  -f, --format string', 'Format'),
      line('  -l, --label list', 'Label'),
      line('      --no-stream', 'One frame'),
    ].join('\n'),
  );
  t.is(formatFlagHelp([{ name: 'x', kind: 'bool', description: 'first\nsecond' }]), '      --x   first\n            second');
});

test('a value the flag\'s type refuses: pflag\'s words, with both names of the flag', (t) => {
  const specs: FlagSpec[] = [
    { name: 'memory', short: 'm', kind: 'string', description: 'Memory', validate: (v) => { if (!/^\d+$/.test(v)) throw new Error(`invalid size: '${v}'`); } },
    { name: 'cpus', kind: 'string', description: 'CPUs', validate: () => { throw new Error('failed to parse'); } },
  ];
  t.is(flagString(parseArgs(['-m', '64'], specs), 'memory'), '64');
  t.throws(() => parseArgs(['-m', 'x'], specs), { instanceOf: UsageError, message: `invalid argument "x" for "-m, --memory" flag: invalid size: 'x'` });
  t.throws(() => parseArgs(['--memory=y'], specs), { instanceOf: UsageError, message: `invalid argument "y" for "-m, --memory" flag: invalid size: 'y'` });
  t.throws(() => parseArgs(['--cpus', '1'], specs), { instanceOf: UsageError, message: 'invalid argument "1" for "--cpus" flag: failed to parse' });
  t.is(t.throws(() => parseArgs(['-mx'], specs), { instanceOf: UsageError })?.kind, 'flag');
});
