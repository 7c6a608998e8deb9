import * as net from 'node:net';
import test from 'ava';
import { connectInNetns } from '../../server/native';
import { RuntimeError } from '../../server/runtime/errors';
import { newPortCounters, publishPorts } from '../../server/runtime/ports';

/** A TCP server on 127.0.0.1 that upper-cases what it gets; its port is the "container port". */
async function upperServer(t: import('ava').ExecutionContext): Promise<number> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('end', () => socket.end(text.toUpperCase()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

function exchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.end(text));
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

// The real native call, into this process's own network namespace: the same path a container's takes.
test('a published port forwards both ways, passes a half-close on, and counts bytes from the container side', async (t) => {
  const containerPort = await upperServer(t);
  const counters = newPortCounters();
  const published = await publishPorts({
    bindings: [{ hostIp: '127.0.0.1', hostPort: 0, containerPort, protocol: 'tcp' }],
    targetPid: () => process.pid,
    counters,
    connect: connectInNetns,
  });
  t.teardown(() => published.close());
  const hostPort = published.bound[0]!.hostPort;
  t.true(hostPort > 0);
  t.is(await exchange(hostPort, 'hello'), 'HELLO');
  t.is(await exchange(hostPort, 'again'), 'AGAIN');
  t.is(counters.rxBytes, 10, 'into the container');
  t.is(counters.txBytes, 10, 'out of the container');
});

test('all or nothing: one taken port closes the ones already bound and names the address', async (t) => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const takenPort = (taken.address() as net.AddressInfo).port;
  const free = net.createServer();
  await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
  const freePort = (free.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => free.close(() => resolve()));

  const error = await t.throwsAsync(
    publishPorts({
      bindings: [
        { hostIp: '127.0.0.1', hostPort: freePort, containerPort: 1, protocol: 'tcp' },
        { hostIp: '127.0.0.1', hostPort: takenPort, containerPort: 2, protocol: 'tcp' },
      ],
      targetPid: () => process.pid,
      counters: newPortCounters(),
      connect: connectInNetns,
    }),
    { instanceOf: RuntimeError },
  );
  t.is(error!.status, 409);
  t.is(error!.message, `Bind for 127.0.0.1:${takenPort} failed: port is already allocated`);
  // The first port was released again.
  const again = net.createServer();
  await t.notThrowsAsync(new Promise<void>((resolve, reject) => again.once('error', reject).listen(freePort, '127.0.0.1', resolve)));
  again.close();
});

test('a connection with nothing listening inside, or no container process, is closed', async (t) => {
  const errors: string[] = [];
  let target: number | undefined = process.pid;
  const published = await publishPorts({
    bindings: [{ hostIp: '127.0.0.1', hostPort: 0, containerPort: 1, protocol: 'tcp' }],
    targetPid: () => target,
    counters: newPortCounters(),
    connect: connectInNetns,
    onConnectError: (_binding, error) => errors.push((error as NodeJS.ErrnoException).code ?? error.message),
  });
  t.teardown(() => published.close());
  t.is(await exchange(published.bound[0]!.hostPort, 'x').catch(() => ''), '');
  t.deepEqual(errors, ['ECONNREFUSED']);
  target = undefined;
  t.is(await exchange(published.bound[0]!.hostPort, 'x').catch(() => ''), '');
});

test('connectInNetns checks its arguments and reports a missing process like a failed open', async (t) => {
  t.throws(() => connectInNetns(0, 80), { instanceOf: RangeError });
  t.throws(() => connectInNetns(1, 70000), { instanceOf: RangeError });
  await t.throwsAsync(connectInNetns(0x7ffffffe, 80), { code: 'ENOENT' });
});
