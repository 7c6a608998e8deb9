import test from 'ava';
import { encodeControl, encodeFrame, FrameDecoder, MAX_FRAME_BYTES, parseControl, STREAM_CONTROL, STREAM_STDERR, STREAM_STDOUT } from '../../server/runtime/frames';

test('frames survive any chunking, byte by byte included', (t) => {
  const wire = Buffer.concat([encodeFrame(STREAM_STDOUT, 'héllo'), encodeFrame(STREAM_STDERR, Buffer.alloc(0)), encodeControl({ type: 'exit', exitCode: 3 })]);
  for (const size of [1, 3, 8, 9, wire.length]) {
    const got: Array<[number, string]> = [];
    const decoder = new FrameDecoder((stream, payload) => got.push([stream, payload.toString('utf8')]));
    for (let i = 0; i < wire.length; i += size) decoder.push(wire.subarray(i, i + size));
    t.deepEqual(got, [
      [STREAM_STDOUT, 'héllo'],
      [STREAM_STDERR, ''],
      [STREAM_CONTROL, '{"type":"exit","exitCode":3}'],
    ]);
  }
});

test('a frame larger than the limit is refused (a broken or hostile peer)', (t) => {
  const header = Buffer.alloc(8);
  header[0] = 1;
  header.writeUInt32BE(MAX_FRAME_BYTES + 1, 4);
  t.throws(() => new FrameDecoder(() => undefined).push(header));
});

test('control messages are checked', (t) => {
  t.deepEqual(parseControl(Buffer.from('{"type":"resize","rows":24,"cols":80}')), { type: 'resize', rows: 24, cols: 80 });
  t.deepEqual(parseControl(Buffer.from('{"type":"error","message":"no","exitCode":127}')), { type: 'error', message: 'no', exitCode: 127 });
  t.deepEqual(parseControl(Buffer.from('{"type":"stdin-end"}')), { type: 'stdin-end' });
  t.is(parseControl(Buffer.from('{"type":"resize","rows":"x"}')), undefined);
  t.is(parseControl(Buffer.from('not json')), undefined);
});
