import test from 'ava';
import { TerminalInput, type TerminalSize } from '../../server/runtime/terminal-input';

/** A shim stand-in: records what reaches each socket, and applies a size when the test says. */
function recordingSinks() {
  const events: string[] = [];
  const pending: Array<() => void> = [];
  const input = new TerminalInput({
    writeKeys: (data) => events.push(`keys ${data.toString('utf8')}`),
    deliverSize: (size: TerminalSize) =>
      new Promise<void>((resolve) =>
        pending.push(() => {
          events.push(`size ${size.rows}x${size.cols}`);
          resolve();
        }),
      ),
  });
  /** The shim applies the oldest size on its way; resolves once the input has reacted. */
  const applyNext = async (): Promise<void> => {
    pending.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { events, pending, input, applyNext };
}

test('keys go straight through while no resize is on its way', (t) => {
  const { events, input } = recordingSinks();
  input.keys(Buffer.from('ls\r'));
  input.keys(Buffer.from('pwd\r'));
  t.deepEqual(events, ['keys ls\r', 'keys pwd\r']);
});

test('keys typed after a resize reach the shim after the size does, in their order', async (t) => {
  const { events, input, applyNext } = recordingSinks();
  input.keys(Buffer.from('a'));
  input.resize({ rows: 40, cols: 120 });
  input.keys(Buffer.from('stty size\r'));
  input.keys(Buffer.from('b'));
  t.deepEqual(events, ['keys a'], 'held while the size is on its way');
  await applyNext();
  t.deepEqual(events, ['keys a', 'size 40x120', 'keys stty size\r', 'keys b']);
  input.keys(Buffer.from('c'));
  t.is(events.at(-1), 'keys c', 'and straight through again after');
});

test('resizes go one at a time, and of those that waited only the newest is sent', async (t) => {
  const { events, pending, input, applyNext } = recordingSinks();
  input.resize({ rows: 24, cols: 80 });
  input.resize({ rows: 25, cols: 81 });
  input.keys(Buffer.from('x'));
  input.resize({ rows: 26, cols: 82 });
  t.is(pending.length, 1, 'one size on its way at a time');
  await applyNext();
  t.is(pending.length, 1);
  await applyNext();
  t.deepEqual(events, ['size 24x80', 'size 26x82', 'keys x']);
});

test('after close nothing is written: held keys and a waiting size are dropped', async (t) => {
  const { events, pending, input, applyNext } = recordingSinks();
  input.resize({ rows: 24, cols: 80 });
  input.keys(Buffer.from('held'));
  input.resize({ rows: 30, cols: 100 });
  input.close();
  await applyNext();
  input.keys(Buffer.from('late'));
  input.resize({ rows: 50, cols: 50 });
  t.deepEqual(events, ['size 24x80']);
  t.is(pending.length, 0);
});
