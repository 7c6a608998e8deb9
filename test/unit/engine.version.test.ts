import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import { EngineError, engineMessage, isNotFound, transportError, type RequestContext } from '../../server/sources/engine/errors';
import { compareApiVersions, engineVersion, isApiVersionRefusal, negotiateApiVersion, parseVersion } from '../../server/sources/engine/version';

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/engine');
const json = (name: string): unknown => JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8'));
const text = (name: string): string => fs.readFileSync(path.join(FIXTURES, name), 'utf8');

test('Docker 20.10 is told from its /version, and spoken to at 1.41', (t) => {
  t.deepEqual(engineVersion(parseVersion(json('docker-version.json'))), {
    flavour: 'docker',
    version: '20.10.24+dfsg1',
    apiVersion: '1.41',
    engineApiVersion: '1.41',
    engineMinApiVersion: '1.12',
  });
});

test('Podman is told apart by its "Podman Engine" component, which carries the libpod API version', (t) => {
  t.deepEqual(engineVersion(parseVersion(json('podman-version.json'))), {
    flavour: 'podman',
    version: '4.3.1',
    apiVersion: '1.41',
    engineApiVersion: '1.41',
    engineMinApiVersion: '1.24',
    libpodApiVersion: '4.3.1',
  });
});

test('versions compare as numbers, not strings', (t) => {
  t.true(compareApiVersions('1.9', '1.41') < 0);
  t.true(compareApiVersions('1.41', '1.9') > 0);
  t.is(compareApiVersions('1.41', '1.41'), 0);
  t.true(compareApiVersions('2.0', '1.99') > 0);
});

test('negotiation: the older of the two, but never below what the engine accepts', (t) => {
  t.is(negotiateApiVersion('1.40', '1.12'), '1.40'); // Docker 19.03
  t.is(negotiateApiVersion('1.47', '1.24'), '1.41'); // Docker 27
  // Docker 29 answers "client version 1.41 is too old. Minimum supported API version is 1.44".
  t.is(negotiateApiVersion('1.52', '1.44'), '1.44');
  t.is(negotiateApiVersion('1.52', undefined), '1.41');
  t.is(negotiateApiVersion('1.45', '1.24', '1.43'), '1.43');
});

test('a /version that is not the Engine API is a protocol error', (t) => {
  for (const body of [null, [], 'OK', { Version: '1.0' }, { ApiVersion: 'v1' }]) {
    const error = t.throws(() => parseVersion(body), { instanceOf: EngineError });
    t.is(error!.code, 'protocol');
  }
});

test("Docker's refusal of a version outside its range is recognised", (t) => {
  t.true(isApiVersionRefusal(400, 'client version 1.41 is too old. Minimum supported API version is 1.44, please upgrade your client to a newer version'));
  t.true(isApiVersionRefusal(400, 'client version 1.99 is too new. Maximum supported API version is 1.41'));
  t.false(isApiVersionRefusal(400, 'Minimum memory limit allowed is 6MB'));
  t.false(isApiVersionRefusal(404, 'client version 1.41 is too old'));
});

test("the engine's own words come from its JSON body, else its text, else the status", (t) => {
  t.is(engineMessage(404, text('docker-404-container.json')), 'No such container: nope');
  t.is(engineMessage(404, text('podman-404-container.json')), 'no container with name or ID "nope" found: no such container');
  t.is(engineMessage(400, text('docker-update-refused.json')), 'Minimum memory limit allowed is 6MB');
  // Podman 4.3's compat API has no update route: a plain-text 404.
  t.is(engineMessage(404, text('podman-compat-update-404.txt')), 'Not Found');
  t.is(engineMessage(404, '404 page not found\n'), '404 page not found');
  t.is(engineMessage(500, ''), 'HTTP 500 Internal Server Error');
  t.is(engineMessage(500, '{"cause":"x"}'), '{"cause":"x"}');
  t.is(engineMessage(500, 'line one\nline two\u001b[31m'), 'line one line two [31m');
  t.is(engineMessage(500, 'x'.repeat(600)).length, 501);
});

const context: RequestContext = {
  address: 'unix:///run/docker.sock',
  socketPath: '/run/docker.sock',
  request: 'GET /v1.41/containers/json',
  connectTimeoutMs: 1000,
  headersTimeoutMs: 2000,
  bodyTimeoutMs: 5000,
};

function errno(code: string, syscall = 'connect'): Error {
  return Object.assign(new Error(`${syscall} ${code} /run/docker.sock`), { code, errno: -2, syscall, address: '/run/docker.sock' });
}

test('a connect that finds no engine is unreachable, with the socket path and errno code', (t) => {
  for (const [code, words] of [
    ['ENOENT', /no socket at \/run\/docker\.sock: is the engine running\?/],
    ['ECONNREFUSED', /nothing accepts connections at \/run\/docker\.sock/],
    ['EACCES', /permission denied on \/run\/docker\.sock/],
  ] as const) {
    const error = transportError(errno(code), context) as EngineError;
    t.true(error instanceof EngineError);
    t.is(error.code, 'unreachable');
    t.is(error.errno, code);
    t.is(error.socketPath, '/run/docker.sock');
    t.is(error.address, 'unix:///run/docker.sock');
    t.regex(error.message, new RegExp(`^cannot connect to the engine at unix:///run/docker\\.sock: ${code}: `));
    t.regex(error.message, words);
  }
});

test("undici's timeouts are 'timeout', naming the request and the limit", (t) => {
  const headers = transportError(Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), context) as EngineError;
  t.is(headers.code, 'timeout');
  t.is(headers.message, 'the engine at unix:///run/docker.sock did not answer GET /v1.41/containers/json within 2000 ms');
  const body = transportError(Object.assign(new Error('Body Timeout Error'), { code: 'UND_ERR_BODY_TIMEOUT' }), context) as EngineError;
  t.is(body.code, 'timeout');
  t.regex(body.message, /stopped sending its answer .* for 5000 ms/);
  t.is((transportError(Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' }), context) as EngineError).code, 'timeout');
});

test("what is not HTTP is 'protocol'; a dropped connection is 'unreachable'; an abort is left alone", (t) => {
  const parser = Object.assign(new Error('Response does not match the HTTP/1.1 protocol (Expected HTTP/, RTSP/ or ICE/)'), { name: 'HTTPParserError', code: 'HPE_INVALID_CONSTANT' });
  const protocol = transportError(parser, context) as EngineError;
  t.is(protocol.code, 'protocol');
  t.regex(protocol.message, /not HTTP as the Engine API speaks it \(HPE_INVALID_CONSTANT/);
  const closed = transportError(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }), context) as EngineError;
  t.is(closed.code, 'unreachable');
  t.regex(closed.message, /closed the connection during GET \/v1\.41\/containers\/json/);
  t.is((transportError(errno('ECONNRESET', 'read'), context) as EngineError).errno, 'ECONNRESET');
  const abort = Object.assign(new Error('This operation was aborted'), { name: 'AbortError', code: 'UND_ERR_ABORTED' });
  t.is(transportError(abort, context), abort);
});

test('isNotFound is the engine answering 404, nothing else', (t) => {
  t.true(isNotFound(new EngineError('engine', 'No such container: x', { status: 404 })));
  t.false(isNotFound(new EngineError('engine', 'conflict', { status: 409 })));
  t.false(isNotFound(new EngineError('unreachable', 'x', { errno: 'ENOENT' })));
  t.false(isNotFound(new Error('No such container')));
});
