import test from 'ava';
import { DetachKeyFilter, DetachKeysError, parseDetachKeys } from '../../server/cli/detach-keys';
import { containerEnvironment, EnvFileError, parseEnvFile } from '../../server/cli/environment';

const lookup = (name: string): string | undefined => ({ C: 'from the shell', EMPTY: '' } as Record<string, string>)[name];

test('env files: comments, blank lines and leading spaces skipped; values kept as written; bare names from the environment', (t) => {
  const text = '# comment\n\nA=1\n  B=two words  \nC\nD=\nUNSET_X\n  # indented comment\nE="q"\r\nF=x=y\nEMPTY\n';
  t.deepEqual(parseEnvFile('env', Buffer.from(text), lookup), ['A=1', 'B=two words  ', 'C=from the shell', 'D=', 'E="q"', 'F=x=y', 'EMPTY=']);
  t.deepEqual(parseEnvFile('env', Buffer.from('\xef\xbb\xbfBOM=1\nW= x ', 'latin1'), lookup), ['BOM=1', 'W= x ']);
  t.deepEqual(parseEnvFile('env', Buffer.from(''), lookup), []);
});

test("env files: docker's words for a bad line", (t) => {
  const bad = (text: string): string => t.throws(() => parseEnvFile('f.env', Buffer.from(text, 'latin1'), lookup), { instanceOf: EnvFileError })!.message;
  t.is(bad('A B=1\n'), "poorly formatted environment: variable 'A B' contains whitespaces");
  t.is(bad('OK=1\n=x\n'), "poorly formatted environment: no variable name on line '=x'");
  t.is(bad('A\tB\n'), "poorly formatted environment: variable 'A\tB' contains whitespaces");
  t.is(bad('OK=1\nX=\xff\n'), 'env file f.env contains invalid utf8 bytes at line 2: [88 61 255]');
});

test('files first, then -e; a file that cannot be opened is told as Go tells it', (t) => {
  const files: Record<string, string> = { a: 'A=1\nC\n', b: 'A=2\n' };
  const read = (file: string): Buffer => {
    if (!(file in files)) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    return Buffer.from(files[file]!);
  };
  t.deepEqual(containerEnvironment(['a', 'b'], ['A=3', 'C', 'UNSET_X'], lookup, read), ['A=1', 'C=from the shell', 'A=2', 'A=3', 'C=from the shell']);
  t.is(t.throws(() => containerEnvironment(['missing'], [], lookup, read))!.message, 'open missing: no such file or directory');
});

test('detach keys: single characters, ctrl-letters and ctrl-punctuation; anything else refused with docker words', (t) => {
  t.deepEqual([...parseDetachKeys('ctrl-p,ctrl-q')], [0x10, 0x11]);
  t.deepEqual([...parseDetachKeys('ctrl-a,x')], [0x01, 0x78]);
  t.deepEqual([...parseDetachKeys('ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_,DEL')], [0, 27, 28, 29, 30, 31, 127]);
  for (const bad of ['ctrl-foo', 'ctrl-', 'ab', '', 'ctrl-1', 'ctrl-p,,ctrl-q']) {
    t.is(t.throws(() => parseDetachKeys(bad), { instanceOf: DetachKeysError })!.message, `Invalid detach keys (${bad}) provided`);
  }
});

test('the detach filter holds a prefix back, lets it go on a mismatch, and detaches across chunks', (t) => {
  const filter = new DetachKeyFilter(parseDetachKeys('ctrl-p,ctrl-q'));
  t.deepEqual(filter.push(Buffer.from('ls\r')), { forward: Buffer.from('ls\r'), detach: false });
  t.deepEqual(filter.push(Buffer.from([0x10])), { forward: Buffer.alloc(0), detach: false });
  t.deepEqual(filter.push(Buffer.from('x')), { forward: Buffer.from([0x10, 0x78]), detach: false });
  t.deepEqual(filter.push(Buffer.from([0x10, 0x10])), { forward: Buffer.from([0x10]), detach: false });
  t.deepEqual(filter.push(Buffer.from([0x11, 0x61])), { forward: Buffer.alloc(0), detach: true });
  const one = new DetachKeyFilter(parseDetachKeys('ctrl-a'));
  t.deepEqual(one.push(Buffer.from([0x62, 0x01, 0x63])), { forward: Buffer.from('b'), detach: true });
});
