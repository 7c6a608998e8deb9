/** What the agent says when it cannot start: one line naming what is missing, exit code 1 or 2. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test from 'ava';
import { CLI, requireCapability } from '../helpers/repo';

/**
 * Only a guard against an agent that never exits: a cold start under emulation (the cgroup v2
 * lane) took more than 30 s. Units: milliseconds.
 */
const HANG_GUARD_MS = 120_000;

function runAgent(args: string[], options: { uid?: number } = {}) {
  return spawnSync(process.execPath, [CLI, 'agent', ...args], { encoding: 'utf8', timeout: HANG_GUARD_MS, ...options });
}

test('not root: a one-line error saying so', (t) => {
  if (!requireCapability(process.getuid?.() === 0, 'root (to drop to another user)')) return t.log('skipped: needs root');
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-nonroot-'));
  t.teardown(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const result = runAgent(['--state-dir', stateDir, '--listen', '127.0.0.1:0'], { uid: 65534 });
  t.is(result.status, 1, result.stderr);
  t.is(result.stderr.trim().split('\n').length, 1, result.stderr);
  t.regex(result.stderr, /must run as root/);
});

test('no cgroup filesystem: a one-line error saying what is missing', (t) => {
  const procRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-proc-'));
  t.teardown(() => fs.rmSync(procRoot, { recursive: true, force: true }));
  fs.mkdirSync(path.join(procRoot, 'self'));
  fs.writeFileSync(path.join(procRoot, 'self', 'mountinfo'), '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n');
  const result = runAgent(['--proc-root', procRoot, '--state-dir', path.join(procRoot, 'state'), '--listen', '127.0.0.1:0']);
  t.is(result.status, 1, result.stderr);
  t.is(result.stderr.trim().split('\n').length, 1, result.stderr);
  t.regex(result.stderr, /no cgroup filesystem is mounted/);
});

test('a malformed flag: usage on stderr, exit 2', (t) => {
  const result = runAgent(['--interval', 'soon']);
  t.is(result.status, 2);
  t.regex(result.stderr, /invalid --interval "soon"/);
});

test('a port already in use: one line naming the address', async (t) => {
  if (!requireCapability(process.getuid?.() === 0, 'root (real cgroups)')) return t.log('skipped: needs root');
  const net = await import('node:net');
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as import('node:net').AddressInfo).port;
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-port-'));
  t.teardown(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const result = spawnSync(process.execPath, [CLI, 'agent', '--state-dir', stateDir, '--listen', `127.0.0.1:${port}`], { encoding: 'utf8', timeout: HANG_GUARD_MS });
  t.is(result.status, 1, result.stderr);
  t.regex(result.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
});
