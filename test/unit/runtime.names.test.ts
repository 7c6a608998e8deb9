import test from 'ava';
import { RuntimeError } from '../../server/runtime/errors';
import { generateContainerName, isContainerId, newContainerId, validateContainerName } from '../../server/runtime/names';

test('docker-style names are accepted, with or without the leading slash', (t) => {
  t.is(validateContainerName('web'), 'web');
  t.is(validateContainerName('/web-1.b_c'), 'web-1.b_c');
  t.is(validateContainerName('a'.repeat(128)), 'a'.repeat(128));
});

test('hostile names are refused with a 400 that quotes them safely', (t) => {
  for (const name of ['../x', '.hidden', '-flag', 'a/b', 'a b', '', '/', 'a'.repeat(129), 'a'.repeat(300), 'bad\u0001name', 'nul\0', 'ünïcode']) {
    const error = t.throws(() => validateContainerName(name), { instanceOf: RuntimeError });
    t.is(error.status, 400, name);
    t.is(error.code, 'invalid_name');
    t.false(/[\u0000-\u001f]/.test(error.message), `no control characters in the message for ${JSON.stringify(name)}`);
  }
  t.throws(() => validateContainerName(42), { instanceOf: RuntimeError });
  t.regex(t.throws(() => validateContainerName('a'.repeat(300)))!.message, /300 characters/);
  t.regex(t.throws(() => validateContainerName('../x'))!.message, /Invalid container name \(\.\.\/x\), only \[a-zA-Z0-9\]\[a-zA-Z0-9_.-\] are allowed/);
});

test('a name that looks like an id is refused (lookups would read it as one)', (t) => {
  t.throws(() => validateContainerName('a'.repeat(64)), { instanceOf: RuntimeError });
});

test('ids are 64 hex digits and never all digits at the start', (t) => {
  const id = newContainerId();
  t.true(isContainerId(id));
  const digitsFirst = [Buffer.alloc(32, 0x11), Buffer.alloc(32, 0xab)];
  t.is(newContainerId(() => digitsFirst.shift()!), 'ab'.repeat(32));
  t.false(isContainerId('ABCD'.repeat(16)));
  t.false(isContainerId('../' + 'a'.repeat(61)));
});

test('generated names avoid taken ones', (t) => {
  const taken = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const name = generateContainerName((candidate) => taken.has(candidate));
    t.false(taken.has(name));
    t.notThrows(() => validateContainerName(name));
    taken.add(name);
  }
});
