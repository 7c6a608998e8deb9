import test from 'ava';
import { DEFAULT_ENGINE_HOST, EngineHostError, parseEngineHost, resolveEngineHost } from '../../server/sources/engine/host';

test('unix:// addresses and bare absolute paths name a socket', (t) => {
  t.deepEqual(parseEngineHost('unix:///var/run/docker.sock', 'DOCKER_HOST'), {
    kind: 'unix',
    socketPath: '/var/run/docker.sock',
    text: 'unix:///var/run/docker.sock',
  });
  t.deepEqual(parseEngineHost('/run/podman/podman.sock', '--docker-host'), {
    kind: 'unix',
    socketPath: '/run/podman/podman.sock',
    text: '/run/podman/podman.sock',
  });
  t.is((parseEngineHost('unix:///run//user/../docker.sock', 'DOCKER_HOST') as { socketPath: string }).socketPath, '/run/docker.sock');
});

test('tcp:// is plain HTTP, on port 2375 when none is given, IPv6 in brackets', (t) => {
  t.deepEqual(parseEngineHost('tcp://127.0.0.1:2375', 'DOCKER_HOST'), { kind: 'tcp', origin: 'http://127.0.0.1:2375', text: 'tcp://127.0.0.1:2375' });
  t.deepEqual(parseEngineHost('tcp://docker.local', 'DOCKER_HOST'), { kind: 'tcp', origin: 'http://docker.local:2375', text: 'tcp://docker.local' });
  t.deepEqual(parseEngineHost('tcp://[::1]:2380/', 'DOCKER_HOST'), { kind: 'tcp', origin: 'http://[::1]:2380', text: 'tcp://[::1]:2380/' });
  t.deepEqual(parseEngineHost('http://10.0.0.2:8080', 'DOCKER_HOST'), { kind: 'tcp', origin: 'http://10.0.0.2:8080', text: 'http://10.0.0.2:8080' });
});

test('the flag wins over DOCKER_HOST, which wins over the default; empty means unset', (t) => {
  const env = { DOCKER_HOST: 'unix:///from/env.sock' };
  t.is(resolveEngineHost({ flag: 'unix:///from/flag.sock', env }).text, 'unix:///from/flag.sock');
  t.is(resolveEngineHost({ env }).text, 'unix:///from/env.sock');
  t.is(resolveEngineHost({ flag: '', env }).text, 'unix:///from/env.sock');
  t.is(resolveEngineHost({ env: { DOCKER_HOST: '' } }).text, DEFAULT_ENGINE_HOST);
  t.deepEqual(resolveEngineHost(), { kind: 'unix', socketPath: '/var/run/docker.sock', text: DEFAULT_ENGINE_HOST });
});

const refused: Array<[string, RegExp]> = [
  ['ssh://me@build-host', /ssh:\/\/ is not supported; forward the socket yourself/],
  ['npipe:////./pipe/docker_engine', /Windows named pipe/],
  ['fd://', /socket activation/],
  ['https://docker.example:2376', /TLS is not supported/],
  ['unix://docker.sock', /must be absolute/],
  ['unix://', /names no socket path/],
  ['docker.sock', /expected unix:\/\/\/path\/to\/socket/],
  ['tcp://host:0', /port must be a number from 1 to 65535/],
  ['tcp://host:99999', /port must be a number/],
  ['tcp://host:', /port must be a number/],
  ['tcp://host:2375/v1.41', /without a path or query/],
  ['tcp://user:pw@host:2375', /no user name or password/],
  ['tcp://:2375', /expected tcp:\/\/HOST:PORT/],
  ['gopher://host', /unknown scheme "gopher:\/\/"/],
  [`unix:///${'x'.repeat(120)}`, /longer than the 107 bytes/],
];

for (const [text, message] of refused) {
  test(`refused with a reason naming the setting: ${text.slice(0, 40)}`, (t) => {
    const error = t.throws(() => parseEngineHost(text, 'DOCKER_HOST'), { instanceOf: EngineHostError, message });
    t.true(error!.message.startsWith(`DOCKER_HOST ${JSON.stringify(text)}: `));
    t.is(error!.setting, 'DOCKER_HOST');
    t.is(error!.value, text);
  });
}

test('the message names the flag when the flag gave the address', (t) => {
  t.throws(() => resolveEngineHost({ flag: 'ssh://host', env: { DOCKER_HOST: 'unix:///ok.sock' } }), { message: /^--docker-host "ssh:\/\/host": / });
});

test('DOCKER_TLS_VERIFY asks for TLS, which capstan does not speak: refused rather than sent in clear', (t) => {
  t.throws(() => resolveEngineHost({ env: { DOCKER_HOST: 'tcp://host:2376', DOCKER_TLS_VERIFY: '1' } }), {
    message: /^DOCKER_HOST "tcp:\/\/host:2376": DOCKER_TLS_VERIFY is set/,
  });
  // A unix socket has no TLS: the variable does not matter there.
  t.is(resolveEngineHost({ env: { DOCKER_TLS_VERIFY: '1' } }).kind, 'unix');
});
