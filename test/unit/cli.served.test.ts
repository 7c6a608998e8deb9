/** The CLI socket's frames, the policy of what the agent serves, and a served command's run. */
import test from 'ava';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeFrames, exitFrame, MAX_FRAME_PAYLOAD_BYTES, MAX_REQUEST_BYTES, parseClientFrames, parseCliRequest, REQUEST_MAGIC } from '../../server/agent/cli-frames';
import { runServedCommand, servedInAgent } from '../../server/cli/served';

function u32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value);
  return bytes;
}

function strings(list: readonly (string | Buffer)[]): Buffer[] {
  return [u32(list.length), ...list.flatMap((item) => {
    const bytes = typeof item === 'string' ? Buffer.from(item) : item;
    return [u32(bytes.length), bytes];
  })];
}

function request(args: readonly (string | Buffer)[], tty = 0, env: readonly (string | Buffer)[] = []): Buffer {
  return Buffer.concat([REQUEST_MAGIC, u32(tty), ...strings(args), ...strings(env)]);
}

test('a request parses once whole, at any split; its tty bits and environment are read; frames may follow', (t) => {
  const bytes = request(['ps', '--format', '{{.Names}} é', ''], 3, ['HOME=/root', 'A=1=2', 'EMPTY=', 'NOEQUALS', 'A=3']);
  for (let cut = 0; cut < bytes.length; cut++) t.deepEqual(parseCliRequest(bytes.subarray(0, cut)), { kind: 'incomplete' }, `cut at ${cut}`);
  const expected = { argv: ['ps', '--format', '{{.Names}} é', ''], env: { HOME: '/root', A: '1=2', EMPTY: '' }, stdoutIsTty: true, stderrIsTty: true };
  t.deepEqual(parseCliRequest(bytes), { kind: 'request', request: expected, length: bytes.length });
  const signal = Buffer.from([0x73, 0, 0, 0, 4, 0, 0, 0, 2]);
  t.deepEqual(parseCliRequest(Buffer.concat([bytes, signal])), { kind: 'request', request: expected, length: bytes.length });
  // A leading byte order mark stays in an argument, as in Node's argv.
  const withBom = parseCliRequest(request(['\ufeffx']));
  t.is(withBom.kind === 'request' ? withBom.request.argv[0] : undefined, '\ufeffx');
  t.deepEqual(parseCliRequest(request([], 2)), { kind: 'request', request: { argv: [], env: {}, stdoutIsTty: false, stderrIsTty: true }, length: request([], 2).length });
});

test('the client frames after the request: signals, kept across splits; anything else is refused', (t) => {
  const two = Buffer.from([0x73, 0, 0, 0, 4, 0, 0, 0, 2, 0x73, 0, 0, 0, 4, 0, 0, 0, 15]);
  t.deepEqual(parseClientFrames(two), { frames: [{ kind: 'signal', signal: 2 }, { kind: 'signal', signal: 15 }], rest: Buffer.alloc(0) });
  const partial = parseClientFrames(two.subarray(0, 12));
  t.deepEqual(partial, { frames: [{ kind: 'signal', signal: 2 }], rest: two.subarray(9, 12) });
  t.deepEqual(parseClientFrames(two.subarray(0, 7)), { frames: [], rest: two.subarray(0, 7) });
  t.deepEqual(parseClientFrames(Buffer.from([0x6f, 0, 0, 0, 1, 0x61])), { invalid: 'an unknown client frame (type 0x6f, 1 bytes)' });
  t.deepEqual(parseClientFrames(Buffer.from([0x73, 0, 0, 0, 5, 0, 0, 0, 2, 0])), { invalid: 'an unknown client frame (type 0x73, 5 bytes)' });
});

test('a bad request is refused with what is wrong, as early as it shows', (t) => {
  const invalid = (bytes: Buffer): string => {
    const parsed = parseCliRequest(bytes);
    if (parsed.kind !== 'invalid') throw new Error(`not refused: ${JSON.stringify(parsed)}`);
    return parsed.reason;
  };
  t.regex(invalid(Buffer.from('GET / HTTP/1.1\r\n')), /wrong magic/);
  t.regex(invalid(Buffer.from('CAPSTAN-CLI 1\n')), /wrong magic or version/);
  t.regex(invalid(request([Buffer.from([0xff, 0xfe])])), /argument 1 is not UTF-8/);
  t.regex(invalid(request(['ps'], 0, ['OK=1', Buffer.from([0x41, 0x3d, 0xff])])), /environment entry 2 is not UTF-8/);
  t.regex(invalid(Buffer.concat([REQUEST_MAGIC, u32(0), u32(1), u32(MAX_REQUEST_BYTES + 1)])), /an argument of/);
  t.regex(invalid(Buffer.concat([REQUEST_MAGIC, u32(0), u32(0xffffffff)])), /arguments/);
  t.regex(invalid(Buffer.concat([REQUEST_MAGIC, u32(0), u32(1), u32(MAX_REQUEST_BYTES), Buffer.alloc(MAX_REQUEST_BYTES + 1)])), /more than/);
  t.regex(invalid(Buffer.concat([REQUEST_MAGIC, u32(0), u32(1), u32(MAX_REQUEST_BYTES - 10), Buffer.alloc(MAX_REQUEST_BYTES - 10), u32(0)])), /more than/);
});

test('frames: type, length, payload; a large payload is split; the exit status is a u32', (t) => {
  t.deepEqual(Buffer.concat(encodeFrames('o', Buffer.from('hi'))), Buffer.from([0x6f, 0, 0, 0, 2, 0x68, 0x69]));
  t.deepEqual(Buffer.concat(encodeFrames('e', Buffer.alloc(0))), Buffer.from([0x65, 0, 0, 0, 0]));
  const big = encodeFrames('o', Buffer.alloc(MAX_FRAME_PAYLOAD_BYTES * 2 + 1, 0x61));
  t.is(big.length, 6);
  t.deepEqual(big.filter((_, i) => i % 2 === 1).map((part) => part.length), [MAX_FRAME_PAYLOAD_BYTES, MAX_FRAME_PAYLOAD_BYTES, 1]);
  t.deepEqual(Buffer.concat(exitFrame(125)), Buffer.from([0x78, 0, 0, 0, 4, 0, 0, 0, 125]));
});

test('the agent serves what needs none of the caller\'s files, stdin or terminal; the rest goes to Node', (t) => {
  const served = [
    ['ps'], ['ps', '-a'], ['inspect', 'x'], ['top', 'x'], ['port', 'x'], ['logs', '-f', 'x'], ['images'], ['history', 'i'], ['diff', 'c'], ['info'], ['version'], ['cgroups'], ['events'],
    ['stats', '--no-stream'], ['stats', '-a', '--no-stream', 'x'], ['ps', '--help'], ['stop', 'x'], ['kill', '-s', 'HUP', 'x'], ['rm', '-f', 'x'], ['restart', 'x'], ['pause', 'x'], ['unpause', 'x'],
    ['update', '--cpus', '1', 'x'], ['wait', 'x'], ['tag', 'a', 'b'], ['pull', 'r:5000/i'], ['push', 'r:5000/i'],
    ['run', '--rm', 'i', 'true'], ['run', '-d', '-e', 'A=1', '-e', 'HOME', '-v', '/h:/c', 'i'], ['run', '--security-opt', 'seccomp=unconfined', 'i'], ['run', 'i', 'sh', '-it'],
    ['run', '--bogus-flag', 'i'], ['create', '--name', 'c', 'i'], ['exec', 'c', 'ls', '-i'], ['exec', '-u', '1', '-e', 'A=1', 'c', 'id'], ['start', 'c'],
  ];
  for (const argv of served) t.deepEqual(servedInAgent(argv), { served: true }, argv.join(' '));
  const notServed: Array<[string[], RegExp]> = [
    [[], /Node CLI/], [['save', '-o', 'f', 'i'], /Node CLI/], [['load'], /Node CLI/], [['login'], /Node CLI/], [['logout'], /Node CLI/], [['export', 'c'], /Node CLI/],
    [['commit', 'c'], /Node CLI/], [['agent'], /Node CLI/], [['image', 'ls'], /Node CLI/], [['volume', 'ls'], /Node CLI/], [['no-such-command'], /Node CLI/], [['--version'], /Node CLI/],
    [['stats'], /terminal/], [['stats', '--no-stream', '-i'], /terminal/], [['stats', '--interactive', '--no-stream'], /terminal/], [['stats', '-ai', '--no-stream'], /terminal/],
    [['ps', '--host', 'http://h:1'], /connection flag/], [['ps', '--token=x'], /connection flag/], [['inspect', '--state-dir', '/d', 'x'], /connection flag/],
    [['run', '-it', 'i', 'sh'], /terminal/], [['run', '-i', 'i'], /terminal/], [['run', '--tty', 'i'], /terminal/], [['run', '-dit', 'i'], /terminal/], [['create', '-t', 'i'], /terminal/],
    [['run', '--env-file', 'e', 'i'], /local file/], [['run', '--security-opt', 'seccomp=/p.json', 'i'], /local file/], [['run', '--security-opt', 'seccomp:p.json', 'i'], /local file/],
    [['exec', '-it', 'c', 'sh'], /terminal/], [['exec', '--env-file=e', 'c', 'id'], /local file/], [['start', '-a', 'c'], /attaches/], [['start', '-ai', 'c'], /attaches/],
  ];
  t.deepEqual(servedInAgent(['ps'], { callerTimeZone: 'Europe/Paris', agentTimeZone: undefined }), { served: false, reason: "the caller's TZ is not the agent's" });
  t.deepEqual(servedInAgent(['ps'], { callerTimeZone: 'UTC', agentTimeZone: 'UTC' }), { served: true });
  for (const [argv, reason] of notServed) {
    const decision = servedInAgent(argv);
    t.false(decision.served, argv.join(' '));
    if (!decision.served) t.regex(decision.reason, reason, argv.join(' '));
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
      env: {},
      client: { onGone: () => () => {}, onSignal: () => () => {}, endBySignal: () => {} },
    });
  t.is(await run(['version', '--format', '{{.Server.Version}}']), 0);
  t.true(seen.length > 0);
  t.true(seen.every((line) => line.endsWith('Bearer the-operator-token')), seen.join('\n'));
  t.is(output.join(''), 'o:9.9.9\n');
  output.length = 0;
  t.is(await run(['ps', '--no-such-flag']), 125);
  t.is(output.join(''), "e:unknown flag: --no-such-flag\nSee 'capstan ps --help'.\n");
});
