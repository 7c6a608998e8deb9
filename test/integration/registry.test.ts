/**
 * Pulls from a real registry (Debian's docker-registry, distribution 2.8) started here on
 * 127.0.0.1 with its own config and storage, once open and once with htpasswd (bcrypt) auth:
 * `docker push` of a busybox image by a dockerd of the test's own, then `capstan pull` (by tag
 * and by digest) and `capstan run`; an OCI index with two platforms pushed through the registry
 * API and `--pull missing` / `--platform`; login, logout and the config file's mode. Bad input
 * comes from a small proxy in front of the open registry that spoils one answer: a manifest that
 * does not match its digest, a truncated blob (and the resumed pull that follows fetches only
 * what is missing), a stall (the agent's --registry-timeout). The store is unchanged after each.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import test, { type ExecutionContext } from 'ava';
import { packTar } from '../../server/runtime/images/tar';
import { startAgentProcess, type AgentProcess } from '../helpers/agent';
import { baseLayerEntries, busyboxAvailable } from '../helpers/busybox-image';
import { busyboxRootfsForEngines, dockerAvailable, runCleanups, startDockerd, type TestEngine } from '../helpers/engines';
import { PROGRAM, REPO_ROOT, requireCapability } from '../helpers/repo';
import { DOCKER_REGISTRY, HTPASSWD, OPENSSL, pushBlob, pushManifest, sha256, startRegistry, type TestRegistry } from '../helpers/registry';

const SHIM = path.join(REPO_ROOT, 'native', 'build', 'Release', 'capstan-shim');
const capable = requireCapability(
  process.getuid?.() === 0 && busyboxAvailable() && fs.existsSync(SHIM) && fs.existsSync(DOCKER_REGISTRY) && fs.existsSync(HTPASSWD) && fs.existsSync(OPENSSL) && dockerAvailable(),
  'root, busybox-static, the built shim, docker-registry, htpasswd (apache2-utils), openssl and docker.io',
);
const serial = capable ? test.serial : test.skip;

let scratch = '';
let agent: AgentProcess | undefined;
let docker: TestEngine | undefined;
let open = '';
let secured = '';
let tokenSecured: TestRegistry | undefined;
const cleanups: Array<() => unknown> = [];

async function startRegistryHere(name: string, auth: boolean): Promise<string> {
  const registry = await startRegistry(path.join(scratch, name), auth ? { username: 'tester', password: 's3cret-pass' } : undefined);
  cleanups.push(() => registry.stop());
  return registry.address;
}

interface HandMade {
  layers: Buffer[];
  indexDigest: string;
  /** Image manifest digests by architecture. */
  manifests: Record<string, string>;
}

/**
 * An OCI index for linux/amd64 and linux/arm64 (both runnable here: the same busybox layers; only
 * the configs differ), two gzip layers each: the busybox base and one with /hello naming the platform.
 */
async function pushHandMadeIndex(registry: string, repository: string, tag: string, authorization?: string): Promise<HandMade> {
  // A base layer of this repository's own, so no other test's pull has put it in the store already.
  const baseTar = packTar([...baseLayerEntries(), { name: 'etc/repository', type: 'file', mode: 0o644, content: `${repository}\n` }]);
  const base = gzipSync(baseTar);
  const result: HandMade = { layers: [base], indexDigest: '', manifests: {} };
  const entries = [];
  await pushBlob(registry, repository, base, authorization);
  for (const architecture of ['amd64', 'arm64']) {
    const extraTar = packTar([{ name: 'hello', type: 'file', mode: 0o644, content: `hello from ${architecture}\n` }]);
    const extra = gzipSync(extraTar);
    result.layers.push(extra);
    const config = JSON.stringify({ architecture, os: 'linux', config: { Cmd: ['cat', '/hello'] }, rootfs: { type: 'layers', diff_ids: [sha256(baseTar), sha256(extraTar)] } });
    await pushBlob(registry, repository, extra, authorization);
    await pushBlob(registry, repository, Buffer.from(config), authorization);
    const layer = (blob: Buffer) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(blob), size: blob.length });
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: Buffer.byteLength(config) },
      layers: [layer(base), layer(extra)],
    });
    await pushManifest(registry, repository, sha256(manifest), 'application/vnd.oci.image.manifest.v1+json', manifest, authorization);
    result.manifests[architecture] = sha256(manifest);
    entries.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: Buffer.byteLength(manifest), platform: { os: 'linux', architecture } });
  }
  const index = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: entries });
  await pushManifest(registry, repository, tag, 'application/vnd.oci.image.index.v1+json', index, authorization);
  result.indexDigest = sha256(index);
  return result;
}

interface Answer {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `capstan ARGS` as a user starts it (PROGRAM: the agent serves pull and push, with the
 * credentials of CAPSTAN_CONFIG in the test's directory; login and logout run in Node); never
 * rejects.
 */
function capstan(args: readonly string[], input?: string): Promise<Answer> {
  return new Promise((resolve) => {
    const child = execFile(
      PROGRAM,
      ['--state-dir', agent!.stateDir, ...args],
      { timeout: 180_000, env: { ...process.env, CAPSTAN_CONFIG: path.join(scratch, 'cli-config') } },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(input ?? '');
  });
}

async function ok(t: ExecutionContext, args: readonly string[], input?: string): Promise<string> {
  const result = await capstan(args, input);
  t.is(result.code, 0, `capstan ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** What a failed pull must not change: image records, layers, and nothing left in staging. */
function storeSnapshot(): string {
  const images = path.join(agent!.stateDir, 'images');
  const list = (folder: string) => (fs.existsSync(path.join(images, folder)) ? fs.readdirSync(path.join(images, folder)).sort().join(',') : '');
  return JSON.stringify({ records: list('records'), layers: list('layers'), tmp: list('tmp'), downloadsPartial: list('downloads').split(',').filter((name) => name.includes('partial') || name.startsWith('layout-')) });
}

type Spoil = 'none' | 'manifest' | 'truncate' | 'stall';

/** A proxy in front of `target` that spoils the first manifest or the first big blob per `mode`; records the paths asked. */
async function startProxy(target: string): Promise<{ address: string; mode: Spoil; paths: string[] }> {
  const state = { address: '', mode: 'none' as Spoil, paths: [] as string[] };
  const server = http.createServer((request, response) => {
    state.paths.push(request.url ?? '');
    const upstream = http.request(`http://${target}${request.url}`, { method: request.method, headers: { ...request.headers, host: target } }, (answer) => {
      const isManifest = /\/manifests\//.test(request.url ?? '');
      const isBigBlob = /\/blobs\/sha256:/.test(request.url ?? '') && Number(answer.headers['content-length'] ?? 0) > 10_000;
      if (state.mode === 'manifest' && isManifest && request.method === 'GET') {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          // One space more: still JSON, no longer what Docker-Content-Digest states.
          const body = Buffer.concat([Buffer.concat(chunks), Buffer.from(' ')]);
          response.writeHead(200, { ...answer.headers, 'content-length': String(body.length) });
          response.end(body);
        });
        return;
      }
      if ((state.mode === 'truncate' || state.mode === 'stall') && isBigBlob && request.method === 'GET') {
        response.writeHead(200, answer.headers);
        let sent = 0;
        const half = Number(answer.headers['content-length']) / 2;
        answer.on('data', (chunk: Buffer) => {
          if (sent >= half) return;
          sent += chunk.length;
          response.write(chunk);
          if (sent < half) return;
          if (state.mode === 'truncate') {
            answer.destroy();
            response.destroy();
          } else {
            // 'stall': both connections stay open and silent until the client gives up.
            answer.pause();
          }
        });
        return;
      }
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.address = `127.0.0.1:${(server.address() as { port: number }).port}`;
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve(undefined)));
  });
  return state;
}

test.before(async () => {
  if (!capable) return;
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-registry-it-'));
  cleanups.push(() => fs.rmSync(scratch, { recursive: true, force: true }));
  open = await startRegistryHere('open', false);
  secured = await startRegistryHere('secured', true);
  tokenSecured = await startRegistry(path.join(scratch, 'token'), { username: 'tester', password: 's3cret-pass', scheme: 'token' });
  cleanups.push(() => tokenSecured?.stop());
  agent = await startAgentProcess({ teardown: (fn: () => unknown) => cleanups.push(fn), log: () => undefined } as unknown as ExecutionContext, ['--registry-timeout', '3s']);
  docker = await startDockerd(cleanups);
});

test.after.always(async () => {
  await runCleanups(cleanups.reverse());
});

serial('docker push, then capstan pull by tag and by digest, and capstan run', async (t) => {
  const name = `${open}/busybox:1`;
  await docker!.importBusybox(name);
  const push = await docker!.cli(['push', name], { timeoutMs: 120_000 });
  t.is(push.status, 0, push.stderr);
  const pushedDigest = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1];
  t.truthy(pushedDigest, push.stdout);

  const pull = await ok(t, ['pull', name]);
  t.regex(pull, /^1: Pulling from busybox$/m);
  t.regex(pull, /^[0-9a-f]{12}: Pulling fs layer$/m);
  t.regex(pull, /^[0-9a-f]{12}: Verifying Checksum$/m);
  t.regex(pull, /^[0-9a-f]{12}: Download complete$/m);
  t.regex(pull, /^[0-9a-f]{12}: Pull complete$/m);
  t.true(pull.includes(`Digest: ${pushedDigest}\n`), pull);
  t.true(pull.includes(`Status: Downloaded newer image for ${name}\n`), pull);

  t.is((await ok(t, ['run', '--rm', name, 'echo', 'pulled and running'])).trim(), 'pulled and running');
  const again = await ok(t, ['pull', name]);
  t.regex(again, /^[0-9a-f]{12}: Already exists$/m);
  t.true(again.includes(`Status: Image is up to date for ${name}\n`), again);

  // By digest: the same image (the same ID as docker's).
  const byDigest = await ok(t, ['pull', `${open}/busybox@${pushedDigest}`]);
  t.true(byDigest.includes(`Digest: ${pushedDigest}`), byDigest);
  const ids = (await ok(t, ['images', '-q', '--no-trunc'])).trim().split('\n');
  const dockerId = (await docker!.cli(['image', 'inspect', '-f', '{{.Id}}', name])).stdout.trim();
  t.true(ids.includes(dockerId), `${dockerId} in ${ids.join(' ')}`);
  t.is(fs.readdirSync(path.join(agent!.stateDir, 'images', 'downloads')).length, 0, 'verified blobs are removed once imported');
});

serial('an OCI index with two platforms: --platform picks one, run --pull missing pulls this machine\'s', async (t) => {
  const made = await pushHandMadeIndex(open, 'multi', '1');
  const arm = await ok(t, ['pull', '--platform', 'linux/arm64', `${open}/multi:1`]);
  t.true(arm.includes(`Digest: ${made.indexDigest}`), arm);
  const armImage = JSON.parse(await ok(t, ['image', 'inspect', `${open}/multi:1`])) as Array<{ Architecture: string }>;
  t.is(armImage[0]!.Architecture, 'arm64');
  await ok(t, ['image', 'rm', `${open}/multi:1`]);

  const none = await capstan(['pull', '--platform', 'linux/s390x', `${open}/multi:1`]);
  t.is(none.code, 1);
  t.regex(none.stderr, /no matching manifest for linux\/s390x.*linux\/amd64, linux\/arm64/);

  const run = await capstan(['run', '--rm', '--pull', 'missing', `${open}/multi:1`]);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stderr, new RegExp(`Unable to find image '${open}/multi:1' locally`));
  t.is(run.stdout, 'hello from amd64\n');
  const bad = await capstan(['run', '--rm', '--pull', 'sometimes', `${open}/multi:1`]);
  t.is(bad.code, 125);
});

serial('htpasswd auth: 401 without login, login (config.json 0600), pull, logout', async (t) => {
  const authorization = `Basic ${Buffer.from('tester:s3cret-pass').toString('base64')}`;
  await pushHandMadeIndex(secured, 'private/app', 'v1', authorization);
  const name = `${secured}/private/app:v1`;
  const before = storeSnapshot();
  const denied = await capstan(['pull', name]);
  t.is(denied.code, 1);
  t.regex(denied.stderr, /pull access denied .* may require 'capstan login'/);
  t.is(storeSnapshot(), before);

  const wrong = await capstan(['login', '-u', 'tester', '--password-stdin', secured], 'wrong\n');
  t.is(wrong.code, 1);
  t.regex(wrong.stderr, /incorrect username or password/);
  t.false(fs.existsSync(path.join(scratch, 'cli-config', 'config.json')));

  t.is((await ok(t, ['login', '-u', 'tester', '--password-stdin', secured], 's3cret-pass\n')).trim(), 'Login Succeeded');
  const configFile = path.join(scratch, 'cli-config', 'config.json');
  t.is(fs.statSync(configFile).mode & 0o777, 0o600);
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as { auths: Record<string, { auth: string }> };
  t.is(Buffer.from(config.auths[secured]!.auth, 'base64').toString(), 'tester:s3cret-pass');

  const pull = await ok(t, ['pull', '-q', name]);
  t.is(pull, `${name}\n`);
  t.false(agent!.output().includes('s3cret-pass'), 'the agent never logs the password');

  t.is((await ok(t, ['logout', secured])).trim(), `Removing login credentials for ${secured}`);
  t.deepEqual((JSON.parse(fs.readFileSync(configFile, 'utf8')) as { auths: object }).auths, {});
});

serial('bearer-token auth: the registry\'s challenge, the token service asked with the login, pull and push; no token without it', async (t) => {
  const registry = tokenSecured!;
  // docker push's way in: a token for pull,push from the service the challenge names.
  const challenge = (await fetch(`http://${registry.address}/v2/`)).headers.get('www-authenticate') ?? '';
  const realm = /realm="([^"]+)"/.exec(challenge)?.[1];
  t.truthy(realm, challenge);
  const tokenAnswer = await fetch(`${realm}?service=capstan-test-registry&scope=repository:token/app:pull,push`, { headers: { authorization: `Basic ${Buffer.from('tester:s3cret-pass').toString('base64')}` } });
  const { token } = (await tokenAnswer.json()) as { token: string };
  await pushHandMadeIndex(registry.address, 'token/app', 'v1', `Bearer ${token}`);
  registry.tokenRequests.length = 0;

  const name = `${registry.address}/token/app:v1`;
  const before = storeSnapshot();
  const denied = await capstan(['pull', name]);
  t.is(denied.code, 1);
  t.regex(denied.stderr, /pull access denied .* may require 'capstan login'/);
  t.is(storeSnapshot(), before);
  t.deepEqual(registry.tokenRequests, ['anonymous repository:token/app:pull'], 'asked for a token without credentials, got one with no access');

  const wrong = await capstan(['login', '-u', 'tester', '--password-stdin', registry.address], 'wrong\n');
  t.is(wrong.code, 1);
  t.regex(wrong.stderr, /incorrect username or password/);
  t.is((await ok(t, ['login', '-u', 'tester', '--password-stdin', registry.address], 's3cret-pass\n')).trim(), 'Login Succeeded');

  registry.tokenRequests.length = 0;
  t.is(await ok(t, ['pull', '-q', name]), `${name}\n`);
  t.deepEqual(registry.tokenRequests, ['basic tester repository:token/app:pull']);
  t.is(await ok(t, ['run', '--rm', name, 'cat', '/etc/repository']), 'token/app\n');

  // Push under a new name: the token asked for carries push; pulled back, the same image.
  const pushed = `${registry.address}/token/copy:v2`;
  await ok(t, ['tag', name, pushed]);
  registry.tokenRequests.length = 0;
  await ok(t, ['push', pushed]);
  t.true(registry.tokenRequests.some((line) => /^basic tester repository:token\/copy:(pull,push|push,pull)$/.test(line)), registry.tokenRequests.join('\n'));
  const id = (await ok(t, ['image', 'inspect', '-f', '{{.Id}}', name])).trim();
  await ok(t, ['image', 'rm', pushed]);
  t.is(await ok(t, ['pull', '-q', pushed]), `${pushed}\n`);
  t.is((await ok(t, ['image', 'inspect', '-f', '{{.Id}}', pushed])).trim(), id);
  t.false(agent!.output().includes('s3cret-pass'), 'the agent never logs the password');
  t.false(agent!.output().includes(token), 'nor a token');
  await ok(t, ['logout', registry.address]);
  await ok(t, ['image', 'rm', name, pushed]);
});

serial('bad registry answers leave the store unchanged; a truncated pull resumes from the verified layers', async (t) => {
  await pushHandMadeIndex(open, 'spoiled', '1');
  const proxy = await startProxy(open);
  const name = `${proxy.address}/spoiled:1`;
  const before = storeSnapshot();

  proxy.mode = 'manifest';
  const mismatch = await capstan(['pull', name]);
  t.is(mismatch.code, 1);
  t.regex(mismatch.stderr, /its content has digest sha256:[0-9a-f]{64}, expected sha256:/);
  t.is(storeSnapshot(), before);

  proxy.mode = 'stall';
  const stalled = await capstan(['pull', name]);
  t.is(stalled.code, 1);
  t.regex(stalled.stderr, /no data for 3 s .* the registry stalled/);
  t.is(storeSnapshot(), before);

  proxy.mode = 'truncate';
  const truncated = await capstan(['pull', name]);
  t.is(truncated.code, 1);
  t.regex(truncated.stderr, /blob sha256:[0-9a-f]{64}: (the registry sent \d+ of \d+ bytes|the connection closed after)/);
  t.is(storeSnapshot(), before);

  // The small layer and the config were verified before the big one broke: the next pull asks only for the rest.
  proxy.mode = 'none';
  proxy.paths.length = 0;
  const resumed = await ok(t, ['pull', name]);
  t.true(resumed.includes(`Status: Downloaded newer image for ${name}`), resumed);
  const blobGets = proxy.paths.filter((p) => p.includes('/blobs/'));
  t.is(blobGets.length, 1, blobGets.join('\n'));
  t.is((await ok(t, ['run', '--rm', name])).trim(), 'hello from amd64');
});

serial('a pull past the import budget (--image-max-size, as a full disk) stops mid-download and leaves nothing', async (t) => {
  await pushHandMadeIndex(open, 'toolarge', '1');
  // A second agent whose cap is below the ~1 MB base layer: the download is charged as it arrives.
  const small = await startAgentProcess({ teardown: (fn: () => unknown) => cleanups.push(fn), log: () => undefined } as unknown as ExecutionContext, ['--image-max-size', '600k']);
  const first = agent;
  agent = small;
  try {
    const before = storeSnapshot();
    const refused = await capstan(['pull', `${open}/toolarge:1`]);
    t.is(refused.code, 1);
    t.regex(refused.stderr, /more than 600\.0 KiB|more than 0\.6 MiB|more than 614400 bytes|--image-max-size/);
    t.is(storeSnapshot(), before);
    t.deepEqual(
      fs.readdirSync(path.join(small.stateDir, 'images', 'downloads')).filter((name) => name.includes('partial') || name.startsWith('layout-')),
      [],
    );
  } finally {
    agent = first;
  }
});

serial('capstan push, then docker pull and docker run with the same image ID; a second push finds the layers; the secured registry needs a login', async (t) => {
  const rootfs = path.join(scratch, 'push-rootfs.tar');
  // The hard link carries its target's mode: docker applies a hard link's mode to the shared inode.
  fs.writeFileSync(rootfs, busyboxRootfsForEngines([{ name: 'etc/pushed', type: 'file', mode: 0o644, content: 'pushed by capstan\n' }]));
  const name = `${open}/pushed:v1`;
  await ok(t, ['image', 'import', '--name', 'pushed-local:1', rootfs]);
  await ok(t, ['tag', 'pushed-local:1', name]);
  const capstanId = (await ok(t, ['image', 'inspect', '-f', '{{.Id}}', name])).trim();

  const push = await ok(t, ['push', name]);
  t.true(push.startsWith(`The push refers to repository [${open}/pushed]\n`), push);
  t.regex(push, /^[0-9a-f]{12}: Preparing$/m);
  t.regex(push, /^[0-9a-f]{12}: Pushed$/m);
  const pushed = /^v1: digest: (sha256:[0-9a-f]{64}) size: (\d+)$/m.exec(push);
  t.truthy(pushed, push);

  const pulled = await docker!.cli(['pull', name], { timeoutMs: 120_000 });
  t.is(pulled.status, 0, pulled.stderr);
  t.true(pulled.stdout.includes(`Digest: ${pushed![1]}`), pulled.stdout);
  t.is((await docker!.cli(['image', 'inspect', '-f', '{{.Id}}', name])).stdout.trim(), capstanId, 'docker has the same image ID (the same config)');
  // An imported rootfs has no config, so no PATH: the command by its path.
  const ran = await docker!.cli(['run', '--rm', name, '/bin/busybox', 'cat', '/etc/pushed']);
  t.is(ran.stdout, 'pushed by capstan\n', ran.stderr);

  const again = await ok(t, ['push', name]);
  t.regex(again, /^[0-9a-f]{12}: Layer already exists$/m);
  t.true(again.includes(`v1: digest: ${pushed![1]} size: ${pushed![2]}`), again);

  const unknown = await capstan(['push', `${open}/nope:1`]);
  t.is(unknown.code, 1);
  t.is(unknown.stderr.trim(), `Error response from daemon: An image does not exist locally with the tag: ${open}/nope`);

  const privateName = `${secured}/private/pushed:v1`;
  await ok(t, ['tag', name, privateName]);
  const denied = await capstan(['push', privateName]);
  t.is(denied.code, 1);
  t.regex(denied.stderr, /denied: requested access to .* is denied/);
  await ok(t, ['login', '-u', 'tester', '--password-stdin', secured], 's3cret-pass\n');
  await ok(t, ['push', privateName]);
  await ok(t, ['logout', secured]);
  const check = await fetch(`http://${secured}/v2/private/pushed/manifests/v1`, {
    headers: { authorization: `Basic ${Buffer.from('tester:s3cret-pass').toString('base64')}`, accept: 'application/vnd.docker.distribution.manifest.v2+json' },
  });
  t.is(check.status, 200, 'the secured registry has the manifest');
  t.is(check.headers.get('docker-content-digest'), pushed![1], 'the same manifest as on the open registry');
});
