import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import { EngineError } from '../../server/sources/engine/errors';
import {
  JsonLineSplitter,
  LineAssembler,
  LogDecoder,
  MAX_EVENT_LINE_BYTES,
  parseLogLine,
  StdcopyDemuxer,
  toEngineEvent,
} from '../../server/sources/engine/streams';
import type { EngineLogLine } from '../../server/sources/engine/types';

// Captured from the real engines (test/helpers/engines.ts): Docker 20.10.24 and Podman 4.3.1.
const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/engine');
const fixture = (name: string): Buffer => fs.readFileSync(path.join(FIXTURES, name));

/** Feeds `wire` in chunks of `size` bytes. */
function chunks(wire: Buffer, size: number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let i = 0; i < wire.length; i += size) pieces.push(wire.subarray(i, i + size));
  return pieces;
}

function splitAll(wire: Buffer, size: number): { values: unknown[]; error: EngineError | undefined } {
  const splitter = new JsonLineSplitter();
  const values: unknown[] = [];
  for (const piece of chunks(wire, size)) values.push(...splitter.push(piece));
  values.push(...splitter.end());
  return { values, error: splitter.error };
}

for (const flavour of ['docker', 'podman'] as const) {
  test(`${flavour}'s events stream gives the same events however it is chunked`, (t) => {
    const wire = fixture(`${flavour}-events.jsonl`);
    const whole = splitAll(wire, wire.length).values.map(toEngineEvent);
    t.true(whole.length >= 12);
    for (const size of [1, 7, 64, 333, 4096]) {
      const { values, error } = splitAll(wire, size);
      t.is(error, undefined);
      t.deepEqual(values.map(toEngineEvent), whole, `chunks of ${size} bytes`);
    }
    const actions = whole.map((event) => event.Action);
    t.true(actions.includes('start') && actions.includes('die'));
    const die = whole.find((event) => event.Action === 'die')!;
    t.is(die.Type, 'container');
    t.regex(die.Actor.ID, /^[0-9a-f]{64}$/);
    t.is(die.Actor.Attributes['name'], 'logs');
    t.is(die.Actor.Attributes['exitCode'], '0');
    t.true(Number.isInteger(die.time) && die.timeNano >= die.time * 1e9);
  });
}

test("Docker's events include the OOM kill; Podman 4.3's (cgroup v1) do not", (t) => {
  const actions = (flavour: string): string[] => splitAll(fixture(`${flavour}-events.jsonl`), 4096).values.map((v) => toEngineEvent(v).Action);
  t.true(actions('docker').includes('oom'));
  t.false(actions('podman').includes('oom'));
});

test('several objects in one chunk, and an object across chunks', (t) => {
  const splitter = new JsonLineSplitter();
  t.deepEqual(splitter.push(Buffer.from('{"a":1}\n{"b":2}\n{"c"')), [{ a: 1 }, { b: 2 }]);
  t.deepEqual(splitter.push(Buffer.from(':3}')), []);
  t.deepEqual(splitter.push(Buffer.from('\n\n')), [{ c: 3 }]);
  // The last line may come without its newline.
  t.deepEqual(splitter.push(Buffer.from('{"d":4}')), []);
  t.deepEqual(splitter.end(), [{ d: 4 }]);
});

test('a multi-byte character split across chunks survives', (t) => {
  const wire = Buffer.from('{"name":"héllo ☃"}\n');
  const splitter = new JsonLineSplitter();
  const values = [...splitter.push(wire.subarray(0, 12)), ...splitter.push(wire.subarray(12, 13)), ...splitter.push(wire.subarray(13))];
  t.deepEqual(values, [{ name: 'héllo ☃' }]);
});

test('a line that is not JSON ends the stream after the events before it, naming its first bytes', (t) => {
  const wire = fixture('garbage-events.txt');
  for (const size of [1, 50, wire.length]) {
    const { values, error } = splitAll(wire, size);
    t.is(values.length, 1, `chunks of ${size}: the event before the garbage is kept, the one after is not`);
    t.is(toEngineEvent(values[0]).Action, 'create');
    t.true(error instanceof EngineError);
    t.is(error!.code, 'protocol');
    t.regex(error!.message, /not JSON, starting "<html><body>502 Bad Gateway<\/body><\/html…"/);
  }
});

test('a stream without newlines is cut off at MAX_EVENT_LINE_BYTES', (t) => {
  const splitter = new JsonLineSplitter();
  const block = Buffer.alloc(64 * 1024, 'x');
  for (let sent = 0; sent <= MAX_EVENT_LINE_BYTES && !splitter.error; sent += block.length) splitter.push(block);
  t.is(splitter.error?.code, 'protocol');
  t.regex(splitter.error!.message, /without a newline, starting "xxxx/);
});

test('toEngineEvent fills in old-style fields and refuses what is not an event', (t) => {
  t.deepEqual(toEngineEvent({ status: 'die', id: 'abc', from: 'busybox', time: 5 }), {
    Type: 'container',
    Action: 'die',
    Actor: { ID: 'abc', Attributes: {} },
    time: 5,
    timeNano: 5e9,
  });
  for (const value of [[], 'start', 42, null, { Type: 'container' }]) {
    t.throws(() => toEngineEvent(value), { instanceOf: EngineError, message: /not an event/ });
  }
});

function demuxAll(wire: Buffer, size: number): Array<[number, string]> {
  const demuxer = new StdcopyDemuxer();
  const frames: Array<[number, string]> = [];
  for (const piece of chunks(wire, size)) for (const frame of demuxer.push(piece)) frames.push([frame.stream, frame.payload.toString('utf8')]);
  demuxer.end();
  return frames;
}

function frame(stream: number, payload: string): Buffer {
  const body = Buffer.from(payload);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

test('stdcopy frames come out whole however the chunks fall, a header split in two included', (t) => {
  const wire = Buffer.concat([frame(1, 'out1\n'), frame(2, 'err1\n'), frame(1, ''), frame(1, 'no newline')]);
  const expected: Array<[number, string]> = [
    [1, 'out1\n'],
    [2, 'err1\n'],
    [1, ''],
    [1, 'no newline'],
  ];
  for (const size of [1, 3, 8, 9, 13, wire.length]) t.deepEqual(demuxAll(wire, size), expected, `chunks of ${size}`);
  // The second header straddles the boundary at byte 15 (the first frame is 13 bytes).
  const demuxer = new StdcopyDemuxer();
  t.deepEqual(demuxer.push(wire.subarray(0, 15)).map((f) => f.payload.toString()), ['out1\n']);
  t.deepEqual(demuxer.push(wire.subarray(15, 26)).map((f) => f.payload.toString()), ['err1\n']);
});

test('a body that is not stdcopy is refused at the first header', (t) => {
  const demuxer = new StdcopyDemuxer();
  t.throws(() => demuxer.push(Buffer.from('2026-12-06T19:24:26Z out1\n')), { instanceOf: EngineError, message: /not multiplexed as expected: a frame header starts "2026-12-/ });
});

test('a stream that ends inside a frame is an error, header or payload', (t) => {
  const inHeader = new StdcopyDemuxer();
  inHeader.push(frame(1, 'hello').subarray(0, 5));
  t.throws(() => inHeader.end(), { instanceOf: EngineError, message: /inside a frame header \(5 bytes left over\)/ });
  const inPayload = new StdcopyDemuxer();
  inPayload.push(frame(1, 'hello').subarray(0, 10));
  t.throws(() => inPayload.end(), { instanceOf: EngineError, message: /inside a frame payload/ });
});

test('lines are assembled across chunks, a character split in two included', (t) => {
  const assembler = new LineAssembler();
  const wire = Buffer.from('one\ntwo ☃\nthree');
  const lines: string[] = [];
  for (const piece of chunks(wire, 1)) lines.push(...assembler.push(piece));
  lines.push(...assembler.end());
  t.deepEqual(lines, ['one', 'two ☃', 'three']);
  t.deepEqual(assembler.end(), []);
});

test('log lines: the timestamp is split off when asked for, a tty\'s \\r is dropped', (t) => {
  t.deepEqual(parseLogLine('stdout', '2026-12-06T19:24:26.674346113Z out1', { timestamps: true, tty: false }), {
    stream: 'stdout',
    time: '2026-12-06T19:24:26.674346113Z',
    text: 'out1',
  });
  t.deepEqual(parseLogLine('stderr', '2026-12-06T19:24:32Z err1', { timestamps: true, tty: false }), { stream: 'stderr', time: '2026-12-06T19:24:32Z', text: 'err1' });
  // Without timestamps a line that starts like one is left alone.
  t.deepEqual(parseLogLine('stdout', '2026-12-06T19:24:32Z err1', { timestamps: false, tty: false }), { stream: 'stdout', text: '2026-12-06T19:24:32Z err1' });
  t.deepEqual(parseLogLine('stdout', 'tty1\r', { timestamps: false, tty: true }), { stream: 'stdout', text: 'tty1' });
});

function decodeAll(wire: Buffer, size: number, options: { timestamps: boolean; tty: boolean }): EngineLogLine[] {
  const lines: EngineLogLine[] = [];
  const decoder = new LogDecoder(options, (line) => lines.push(line));
  for (const piece of chunks(wire, size)) decoder.push(piece);
  decoder.end();
  return lines;
}

test("Docker's multiplexed logs with timestamps, however chunked", (t) => {
  const wire = fixture('docker-logs-stdcopy-timestamps.bin');
  const expected: EngineLogLine[] = [
    { stream: 'stdout', time: '2026-12-06T19:24:26.674346113Z', text: 'out1' },
    { stream: 'stderr', time: '2026-12-06T19:24:26.674465380Z', text: 'err1' },
    { stream: 'stdout', time: '2026-12-06T19:24:26.716896206Z', text: 'no newline at the end' },
  ];
  for (const size of [1, 5, 8, 9, 100, wire.length]) t.deepEqual(decodeAll(wire, size, { timestamps: true, tty: false }), expected, `chunks of ${size}`);
});

test("Podman's multiplexed logs: timestamps to the second, stdout before stderr", (t) => {
  t.deepEqual(decodeAll(fixture('podman-logs-stdcopy-timestamps.bin'), 7, { timestamps: true, tty: false }), [
    { stream: 'stdout', time: '2026-12-06T19:24:32Z', text: 'out1' },
    { stream: 'stdout', time: '2026-12-06T19:24:32Z', text: 'no newline at the end' },
    { stream: 'stderr', time: '2026-12-06T19:24:32Z', text: 'err1' },
  ]);
});

test('a tty container\'s logs are raw lines on stdout (stderr is the same terminal)', (t) => {
  for (const flavour of ['docker', 'podman']) {
    t.deepEqual(decodeAll(fixture(`${flavour}-logs-tty.bin`), 3, { timestamps: false, tty: true }), [
      { stream: 'stdout', text: 'tty1' },
      { stream: 'stdout', text: 'tty2' },
    ]);
  }
});

test('without timestamps a line split across frames is joined back', (t) => {
  const wire = Buffer.concat([frame(1, 'hel'), frame(2, 'oops\n'), frame(1, 'lo\nworld')]);
  t.deepEqual(decodeAll(wire, 4, { timestamps: false, tty: false }), [
    { stream: 'stderr', text: 'oops' },
    { stream: 'stdout', text: 'hello' },
    { stream: 'stdout', text: 'world' },
  ]);
});

test("a frame on the engine's own error stream ends the logs with its message", (t) => {
  const wire = Buffer.concat([frame(1, 'out\n'), frame(3, 'error from daemon in stream: log driver failed\n')]);
  const error = t.throws(() => decodeAll(wire, wire.length, { timestamps: false, tty: false }), { instanceOf: EngineError });
  t.is(error!.code, 'engine');
  t.is(error!.message, 'error from daemon in stream: log driver failed');
});
