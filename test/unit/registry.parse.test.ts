import test from 'ava';
import { RegistryError } from '../../server/registry/errors';
import { formatPlatform, MANIFEST_TYPES, parseManifest, parsePlatform, parseWwwAuthenticate, selectPlatform } from '../../server/registry/manifest';
import { allowsPlainHttp, parseRemoteReference } from '../../server/registry/reference';
import { parseRegistryAuth } from '../../server/api/images';
import { credentialsFor, parseConfig, withCredentials } from '../../server/cli/registry-config';
import { parsePullPolicy } from '../../server/cli/commands/pull';
import { serverKey } from '../../server/cli/commands/login';

const HEX = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);

test('references get docker defaults: docker.io, library/, latest', (t) => {
  t.deepEqual(parseRemoteReference('busybox'), { registry: 'registry-1.docker.io', repository: 'library/busybox', tag: 'latest', localName: 'busybox:latest' });
  t.deepEqual(parseRemoteReference('team/app:v2'), { registry: 'registry-1.docker.io', repository: 'team/app', tag: 'v2', localName: 'team/app:v2' });
  t.deepEqual(parseRemoteReference('127.0.0.1:5000/bb'), { registry: '127.0.0.1:5000', repository: 'bb', tag: 'latest', localName: '127.0.0.1:5000/bb:latest' });
  t.deepEqual(parseRemoteReference('localhost/a/b:1'), { registry: 'localhost', repository: 'a/b', tag: '1', localName: 'localhost/a/b:1' });
  t.deepEqual(parseRemoteReference(`reg.example/app@sha256:${HEX}`), { registry: 'reg.example', repository: 'app', digest: `sha256:${HEX}` });
  t.deepEqual(parseRemoteReference(`reg.example/app:v1@sha256:${HEX}`).digest, `sha256:${HEX}`);
});

test('malformed references are refused with invalid_reference', (t) => {
  for (const bad of ['', 'Busybox', 'a b', 'x:', 'app@sha256:abc', 'app@md5:' + HEX, 'a//b', 'bad_host:x/app', 'x\n']) {
    const error = t.throws(() => parseRemoteReference(bad), { instanceOf: RegistryError }, JSON.stringify(bad));
    t.is(error?.code, 'invalid_reference');
  }
});

test('plain HTTP only for loopback registries and named insecure ones', (t) => {
  t.true(allowsPlainHttp('127.0.0.1:5000'));
  t.true(allowsPlainHttp('127.8.9.10'));
  t.true(allowsPlainHttp('localhost:5000'));
  t.true(allowsPlainHttp('[::1]:5000'));
  t.false(allowsPlainHttp('registry.example:5000'));
  t.false(allowsPlainHttp('127.0.0.1.evil.example'));
  t.true(allowsPlainHttp('registry.example:5000', ['registry.example:5000']));
  t.true(allowsPlainHttp('registry.example:5000', ['registry.example']));
});

const descriptor = (digest: string, size = 10, mediaType = 'application/vnd.docker.image.rootfs.diff.tar.gzip') => ({ mediaType, digest: `sha256:${digest}`, size });

test('docker v2 schema 2 and OCI image manifests', (t) => {
  const docker = parseManifest(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST_TYPES.dockerManifest, config: descriptor(HEX, 5, 'application/vnd.docker.container.image.v1+json'), layers: [descriptor(OTHER)] }));
  t.is(docker.kind, 'image');
  if (docker.kind === 'image') {
    t.is(docker.config.digest, `sha256:${HEX}`);
    t.is(docker.layers.length, 1);
  }
  // OCI manifests may leave mediaType out of the body: the Content-Type says it.
  const oci = parseManifest(JSON.stringify({ schemaVersion: 2, config: descriptor(HEX), layers: [] }), `${MANIFEST_TYPES.ociManifest}; charset=utf-8`);
  t.is(oci.mediaType, MANIFEST_TYPES.ociManifest);
});

test('bad manifests: not JSON, schema 1, bad digests and sizes, zstd layers', (t) => {
  const cases = [
    'nope',
    JSON.stringify({ schemaVersion: 1, fsLayers: [] }),
    JSON.stringify({ schemaVersion: 2, config: { digest: 'sha256:abc', size: 1 }, layers: [] }),
    JSON.stringify({ schemaVersion: 2, config: descriptor(HEX, -1), layers: [] }),
    JSON.stringify({ schemaVersion: 2, config: descriptor(HEX), layers: [descriptor(OTHER, 1, 'application/vnd.oci.image.layer.v1.tar+zstd')] }),
    JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST_TYPES.ociIndex }),
  ];
  for (const body of cases) {
    const error = t.throws(() => parseManifest(body), { instanceOf: RegistryError }, body);
    t.is(error?.code, 'bad_manifest');
  }
});

test('an index picks the platform asked for, never an attestation', (t) => {
  const list = parseManifest(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_TYPES.ociIndex,
      manifests: [
        { ...descriptor(HEX), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        { ...descriptor(OTHER), platform: { os: 'linux', architecture: 'amd64' } },
        { ...descriptor('c'.repeat(64)), platform: { os: 'unknown', architecture: 'unknown' } },
      ],
    }),
  );
  t.is(list.kind, 'list');
  if (list.kind !== 'list') return;
  t.is(selectPlatform(list.manifests, parsePlatform('linux/amd64'))?.digest, `sha256:${OTHER}`);
  t.is(selectPlatform(list.manifests, parsePlatform('linux/arm64'))?.digest, `sha256:${HEX}`);
  t.is(selectPlatform(list.manifests, parsePlatform('linux/arm64/v8'))?.digest, `sha256:${HEX}`);
  t.is(selectPlatform(list.manifests, parsePlatform('linux/arm64/v7')), undefined);
  t.is(selectPlatform(list.manifests, parsePlatform('windows/amd64')), undefined);
  t.is(formatPlatform(parsePlatform('amd64')), 'linux/amd64');
  t.throws(() => parsePlatform('linux/amd64/v1/x'), { instanceOf: RegistryError });
  t.throws(() => parsePlatform('linux/../x'), { instanceOf: RegistryError });
});

test('WWW-Authenticate: bearer with quoted parameters, basic, others ignored', (t) => {
  t.deepEqual(parseWwwAuthenticate('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull' },
  });
  t.deepEqual(parseWwwAuthenticate('Basic realm="Registry Realm"'), { scheme: 'basic', params: { realm: 'Registry Realm' } });
  t.deepEqual(parseWwwAuthenticate('bearer realm=https://x/t, service=s'), { scheme: 'bearer', params: { realm: 'https://x/t', service: 's' } });
  t.deepEqual(parseWwwAuthenticate('Bearer realm="a\\"b"')?.params, { realm: 'a"b' });
  t.is(parseWwwAuthenticate('Negotiate abc'), undefined);
});

test('X-Registry-Auth: base64 JSON (URL-safe or not); bad ones refused', (t) => {
  const encoded = Buffer.from(JSON.stringify({ username: 'u', password: 'p?>' })).toString('base64url');
  t.deepEqual(parseRegistryAuth(encoded), { username: 'u', password: 'p?>' });
  t.deepEqual(parseRegistryAuth(Buffer.from(JSON.stringify({ username: 'u', password: 'p?>' })).toString('base64')), { username: 'u', password: 'p?>' });
  t.is(parseRegistryAuth(undefined), undefined);
  t.is(parseRegistryAuth(Buffer.from('{}').toString('base64')), undefined);
  t.throws(() => parseRegistryAuth('!!!'));
  t.throws(() => parseRegistryAuth(Buffer.from('{"username":1,"password":"x"}').toString('base64')));
});

test('config.json: docker shape, other keys kept, logout removes one entry', (t) => {
  const start = parseConfig('{"credsStore":"x","auths":{"other:1":{"auth":"YTpi"}}}', 'config.json');
  const logged = withCredentials(start, '127.0.0.1:5000', { username: 'me', password: 'pa:ss' });
  t.is(logged.auths?.['127.0.0.1:5000']?.auth, Buffer.from('me:pa:ss').toString('base64'));
  t.is(logged['credsStore'], 'x');
  t.deepEqual(credentialsFor(logged, '127.0.0.1:5000'), { username: 'me', password: 'pa:ss' });
  t.deepEqual(credentialsFor(logged, 'other:1'), { username: 'a', password: 'b' });
  const out = withCredentials(logged, '127.0.0.1:5000', undefined);
  t.is(credentialsFor(out, '127.0.0.1:5000'), undefined);
  t.truthy(out.auths?.['other:1']);
  t.throws(() => parseConfig('[', 'c.json'));
  t.throws(() => parseConfig('[]', 'c.json'));
});

test('login server keys and pull policies', (t) => {
  t.is(serverKey(undefined), 'registry-1.docker.io');
  t.is(serverKey('http://127.0.0.1:5000/'), '127.0.0.1:5000');
  t.is(serverKey('localhost:5000'), 'localhost:5000');
  t.throws(() => serverKey('a b'));
  t.is(parsePullPolicy(undefined), 'default');
  t.is(parsePullPolicy('always'), 'always');
  t.is(parsePullPolicy('never'), 'never');
  const error = t.throws(() => parsePullPolicy('sometimes'));
  t.is(error?.message, `invalid pull option: 'sometimes': must be one of "always", "missing" or "never"`);
});
