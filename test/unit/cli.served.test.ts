/** The CLI socket's frames, the policy of what the agent serves, and a served command's run. */
import test from 'ava';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeFrames, exitFrame, MAX_FRAME_PAYLOAD_BYTES, MAX_REQUEST_BYTES, parseCliRequest, REQUEST_MAGIC } from '../../server/agent/cli-frames';
import { runServedCommand, servedInAgent } from '../../server/cli/served';

function u32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value);
  return bytes;
}

function request(args: readonly (string | Buffer)[], tty = 0): Buffer {
  return Buffer.concat([REQUEST_MAGIC, u32(tty), u32(args.length), ...args.flatMap((arg) => {
    const bytes = typeof arg === 'string' ? Buffer.from(arg) : arg;
    return [u32(bytes.length), bytes];
  })]);
}

test('a request parses once whole, at any split; its tty bits are read', (t) => {
  const bytes = request(['ps', '--format', '{{.Names}} é', ''], 3);
  for (let cut = 0; cut < bytes.length; cut++) t.deepEqual(parseCliRequest(bytes.subarray(0, cut)), { kind: 'incomplete' }, `cut at ${cut}`);
  t.deepEqual(parseCliRequest(bytes), { kind: 'request', request: { argv: ['ps', '--format', '{{.Names}} é', ''], stdoutIsTty: true, stderrIsTty: true } });
  t.deepEqual(parseCliRequest(request([], 2)), { kind: 'request', request: { argv: [], stdoutIsTty: false, stderrIsTty: true } });
});

test('a bad request is refused with what is wrong, as early as it shows', (t) => {
  const invalid = (bytes: Buffer): string => {
    const parsed = parseCliRequest(bytes);
    if (parsed.kind !== 'invalid') throw new Error(`not refused: ${JSON.stringify(parsed)}`);
    return parsed.reason;
  };
  t.regex(invalid(Buffer.from('GET / HTTP/1.1\r\n')), /wrong magic/);
  t.regex(invalid(Buffer.from('CAPSTAN-CLI 2')), /wrong magic/);
  t.regex(invalid(request([Buffer.from([0xff, 0xfe])])), /argument 1 is not UTF-8/);
  t.regex(invalid(Buffer.concat([REQUEST_MAGIC, u32(0), u32(1), u32(MAX_REQUEST_BYTES + 1)])), /an argument of/);
  t.regex(invalid(Buffer.concat([REQUEST_MAGIC, u32(0), u32(0xffffffff)])), /arguments/);
  t.regex(invalid(Buffer.concat([request(['ps']), Buffer.from('x')])), /bytes after the request/);
  t.regex(invalid(Buffer.alloc(MAX_REQUEST_BYTES + 1)), /more than/);
});

test('frames: type, length, payload; a large payload is split; the exit status is a u32', (t) => {
  t.deepEqual(Buffer.concat(encodeFrames('o', Buffer.from('hi'))), Buffer.from([0x6f, 0, 0, 0, 2, 0x68, 0x69]));
  t.deepEqual(Buffer.concat(encodeFrames('e', Buffer.alloc(0))), Buffer.from([0x65, 0, 0, 0, 0]));
  const big = encodeFrames('o', Buffer.alloc(MAX_FRAME_PAYLOAD_BYTES * 2 + 1, 0x61));
  t.is(big.length, 6);
  t.deepEqual(big.filter((_, i) => i % 2 === 1).map((part) => part.length), [MAX_FRAME_PAYLOAD_BYTES, MAX_FRAME_PAYLOAD_BYTES, 1]);
  t.deepEqual(Buffer.concat(exitFrame(125)), Buffer.from([0x78, 0, 0, 0, 4, 0, 0, 0, 125]));
});

test('the agent serves read-only commands only; anything that needs the caller goes to Node', (t) => {
  for (const argv of [['ps'], ['ps', '-a'], ['inspect', 'x'], ['top', 'x'], ['port', 'x'], ['logs', '-f', 'x'], ['images'], ['history', 'i'], ['diff', 'c'], ['info'], ['version'], ['cgroups'], ['events'], ['stats', '--no-stream'], ['stats', '-a', '--no-stream', 'x'], ['ps', '--help']]) {
    t.deepEqual(servedInAgent(argv), { served: true }, argv.join(' '));
  }
  for (const argv of [[], ['run', 'i'], ['exec', 'c', 'sh'], ['save', '-o', 'f', 'i'], ['load'], ['pull', 'r/i'], ['login'], ['cp'], ['rm', 'x'], ['update', '--cpus', '1', 'x'], ['stats'], ['stats', '--no-stream', '-i'], ['stats', '--interactive', '--no-stream'], ['ps', '--host', 'http://h:1'], ['ps', '--token=x'], ['inspect', '--state-dir', '/d', 'x'], ['--version'], ['agent'], ['image', 'ls'], ['volume', 'ls'], ['no-such-command']]) {
    const decision = servedInAgent(argv);
    t.false(decision.served, argv.join(' '));
  }
});

test('a served command runs the CLI against the endpoint given, its output in order, its status returned', async (t) => {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization}`);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ Version: '9.9.9' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const output: string[] = [];
  const run = (argv: string[]): Promise<number> =>
    runServedCommand(argv, {
      endpoint: { url, token: 'the-operator-token', stateDir: '/nonexistent' },
      streams: { stdout: (bytes) => output.push(`o:${bytes}`), stderr: (bytes) => output.push(`e:${bytes}`), stdoutIsTty: false, stderrIsTty: false },
      onClientGone: () => () => {},
    });
  t.is(await run(['version', '--format', '{{.Server.Version}}']), 0);
  t.true(seen.length > 0);
  t.true(seen.every((line) => line.endsWith('Bearer the-operator-token')), seen.join('\n'));
  t.is(output.join(''), 'o:9.9.9\n');
  output.length = 0;
  t.is(await run(['ps', '--no-such-flag']), 125);
  t.is(output.join(''), "e:unknown flag: --no-such-flag\nSee 'capstan ps --help'.\n");
});
