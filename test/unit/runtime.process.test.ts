import test from 'ava';
import { isSameProcess, parseSignal, parseStartTimeTicks, readStartTimeTicks, signalName } from '../../server/runtime/process';

test('the start time is field 22, counted after the last ")" (the name may hold spaces and parentheses)', (t) => {
  const stat = '4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0';
  t.is(parseStartTimeTicks(stat), 987654);
  t.is(parseStartTimeTicks('garbage'), undefined);
});

test('this process is itself; a wrong start time or a missing PID is not', (t) => {
  const ticks = readStartTimeTicks(process.pid);
  t.true(typeof ticks === 'number' && ticks > 0);
  t.true(isSameProcess(process.pid, ticks!));
  t.false(isSameProcess(process.pid, ticks! + 1));
  t.false(isSameProcess(0x7ffffffe, 1));
  t.false(isSameProcess(0, 0));
});

test('signals by name, short name or number', (t) => {
  t.is(parseSignal('SIGKILL'), 9);
  t.is(parseSignal('term'), 15);
  t.is(parseSignal('9'), 9);
  t.is(parseSignal('RTMIN+2'), 36);
  t.is(parseSignal('SIGNOPE'), undefined);
  t.is(parseSignal('0'), undefined);
  t.is(signalName(15), 'SIGTERM');
});
