import test from 'ava';
import type { ContainerSummary } from '../../server/runtime/types';
import { parseExecRequest } from '../../server/runtime/sessions';
import { RuntimeError } from '../../server/runtime/errors';
import { CapstanSource } from '../../server/sources/capstan';
import { RawSource } from '../../server/sources/raw';
import { describeCgroup } from '../../server/sources/source';

const container: ContainerSummary = {
  id: 'e'.repeat(64),
  name: 'web',
  image: 'busybox',
  imageId: 'sha256:' + 'f'.repeat(64),
  status: 'running',
  pid: 42,
  labels: { team: 'a' },
  cgroupPath: '/capstan/' + 'e'.repeat(64),
  createdAtMs: 1_700_000_000_000,
  exitCode: 0,
  oomKilled: false,
};

test("capstan's containers are described with their names and images; other cgroups go to the next source", (t) => {
  const portBytes = { name: 'capstan-ports', rxBytes: 10, txBytes: 20, rxPackets: 0, rxErrors: 0, rxDropped: 0, txPackets: 0, txErrors: 0, txDropped: 0 };
  const source = new CapstanSource({
    byCgroupPath: (path) => (path === container.cgroupPath ? container : undefined),
    networkCounters: (path) => (path === container.cgroupPath ? portBytes : undefined),
  });
  const sources = [source, new RawSource()];
  const described = describeCgroup(sources, container.cgroupPath, {});
  t.is(described.source, source, 'the source that answered is named, so the collector can ask it for port bytes');
  t.is(described.source.networkCounters?.(container.cgroupPath), portBytes);
  t.deepEqual(described.info, {
    id: container.id,
    name: 'web',
    cgroupPath: container.cgroupPath,
    image: 'busybox',
    source: 'capstan',
    isContainer: true,
    labels: { team: 'a' },
    createdAtMs: 1_700_000_000_000,
  });
  t.is(describeCgroup(sources, '/capstan', {}).info.source, 'raw');
});

test('exec requests are checked like run requests', (t) => {
  t.deepEqual(parseExecRequest({ cmd: ['sh'], tty: true, openStdin: true, env: ['A=1'], user: 'www', workingDir: '/tmp', consoleSize: { rows: 24, cols: 80 } }), {
    cmd: ['sh'], env: ['A=1'], tty: true, openStdin: true, user: 'www', workingDir: '/tmp', consoleSize: { rows: 24, cols: 80 },
  });
  t.regex(t.throws(() => parseExecRequest({ cmd: [] }), { instanceOf: RuntimeError })!.message, /No exec command specified/);
  t.throws(() => parseExecRequest({ cmd: ['x'], workingDir: 'rel' }), { instanceOf: RuntimeError });
  t.throws(() => parseExecRequest({ cmd: ['x'], extra: 1 }), { instanceOf: RuntimeError });
  t.throws(() => parseExecRequest({ cmd: ['a\0'] }), { instanceOf: RuntimeError });
});
