/**
 * /api/v1/images and `capstan image` against a real HTTP server on loopback, with a real image
 * store (fake overlay marker writer, so no root is needed).
 */
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import express from 'express';
import test, { type ExecutionContext } from 'ava';
import { requireRole, TokenStore } from '../../server/api/auth';
import { imagesRouter } from '../../server/api/images';
import { AgentClient, resolveEndpoint } from '../../server/cli/client';
import { formatImageTable, progressLine } from '../../server/cli/commands/image';
import { runCli, type CliDeps } from '../../server/cli/main';
import { ImageStore } from '../../server/runtime/images/store';
import type { ImageRecord } from '../../server/runtime/images/types';
import { writeTestImages, type TarFile } from '../helpers/busybox-image';

const VIEWER = 'viewer-token-0123456789';
const OPERATOR = 'operator-token-0123456789';

const BASE: TarFile[] = [
  { name: 'bin/', type: 'directory' },
  { name: 'bin/tool', type: 'file', content: 'tool\n'.repeat(2000), mode: 0o755 },
];
const UPDATE: TarFile[] = [{ name: 'etc/motd', type: 'file', content: 'hi\n' }];

interface Server {
  url: string;
  store: ImageStore;
  files: ReturnType<typeof writeTestImages>;
  inUse: Set<string>;
}

async function server(t: ExecutionContext): Promise<Server> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-images-api-'));
  t.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }));
  const archives = path.join(scratch, 'archives');
  fs.mkdirSync(archives);
  const files = writeTestImages(archives, BASE, UPDATE, 'api');
  const inUse = new Set<string>();
  const store = new ImageStore({ stateDir: path.join(scratch, 'state'), markers: async () => {}, isImageInUse: (id) => inUse.has(id) });
  const tokens = new TokenStore([
    { name: 'viewer', role: 'viewer', token: VIEWER },
    { name: 'operator', role: 'operator', token: OPERATOR },
  ]);
  const app = express();
  const api = express.Router();
  api.use(express.json({ limit: '64kb' }));
  api.use(requireRole(tokens, 'viewer'));
  api.use('/images', imagesRouter({ store, tokens }));
  app.use('/api/v1', api);
  const listening = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => listening.once('listening', resolve));
  t.teardown(() => new Promise<void>((resolve) => listening.close(() => resolve())));
  const { port } = listening.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, store, files, inUse };
}

async function cli(url: string, argv: string[], options: { tty?: boolean; token?: string } = {}) {
  const writes: string[] = [];
  let stderr = '';
  const deps: CliDeps = {
    stdout: { isTTY: options.tty === true, write: (text: string) => writes.push(text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: {},
    now: () => Date.parse('2024-01-01T00:00:00Z'),
    connect: (flags, env) => new AgentClient(resolveEndpoint(flags, { env, readFile: (f) => fs.readFileSync(f, 'utf8') }), { timeoutMs: 10_000 }),
    onInterrupt: () => () => {},
    timing: { pollMs: 20, redrawMs: 10 },
  };
  const result = await runCli(['--host', url, '--token', options.token ?? OPERATOR, ...argv], deps);
  return { code: result.code, stdout: writes.join(''), stderr, writes };
}

test('capstan image import uploads each format; ls lists them like docker; rm removes them', async (t) => {
  const { url, files, store } = await server(t);
  const saved = await cli(url, ['image', 'import', files.dockerSave]);
  t.is(saved.code, 0, saved.stderr);
  t.is(saved.stdout, `Loaded image: ${files.dockerSaveTag}\n`);

  const rootfs = await cli(url, ['image', 'import', '--name', 'api-rootfs:1', files.rootfsTarGz]);
  t.is(rootfs.code, 0, rootfs.stderr);
  t.is(rootfs.stdout, 'Loaded image: api-rootfs:1\n');

  const oci = await cli(url, ['image', 'import', files.ociDirectory]);
  t.is(oci.code, 0, oci.stderr);
  t.is(oci.stdout, `Loaded image: ${files.dockerSaveTag}\nLoaded image: ${files.ociTag}\n`, 'the OCI layout is the same image: it gains a name');

  const ls = await cli(url, ['image', 'ls']);
  t.is(ls.code, 0);
  const lines = ls.stdout.trimEnd().split('\n');
  t.regex(lines[0]!, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
  t.is(lines.length, 4);
  const savedId = store.get(files.dockerSaveTag).id.slice(7, 19);
  t.true(lines.some((line) => new RegExp(`^capstan-test/api\\s+save\\s+${savedId}\\s`).test(line)), ls.stdout);
  t.true(lines.some((line) => /^api-rootfs\s+1\s+[0-9a-f]{12}\s+.+ ago\s+10kB$/.test(line)), ls.stdout);

  const quiet = await cli(url, ['image', 'ls', '-q']);
  t.is(quiet.stdout.trim().split('\n').length, 2, 'one line per image, not per name');

  const untag = await cli(url, ['image', 'rm', files.ociTag]);
  t.is(untag.stdout, `Untagged: ${files.ociTag}\n`);
  const removed = await cli(url, ['image', 'rm', 'api-rootfs:1', files.dockerSaveTag]);
  t.is(removed.code, 0, removed.stderr);
  t.regex(removed.stdout, /^Untagged: api-rootfs:1\nDeleted: sha256:[0-9a-f]{64}\nUntagged: capstan-test\/api:save\nDeleted: sha256:[0-9a-f]{64}\n$/);
  t.deepEqual(store.list(), []);
});

test('a terminal gets a progress bar redrawn in place', async (t) => {
  const { url, files } = await server(t);
  const run = await cli(url, ['image', 'import', files.dockerSave], { tty: true });
  t.is(run.code, 0, run.stderr);
  t.true(run.writes.some((w) => w.startsWith('\r\x1b[2KUploading [') && w.includes(']')), run.writes.join('|'));
  t.true(run.writes.some((w) => w.includes('Loading layers (2/2)')), run.writes.join('|'));
  t.regex(run.stdout, /Loaded image: capstan-test\/api:save\n$/);
  t.is(progressLine('Uploading', 50, 100), `Uploading [${'='.repeat(25)}>${' '.repeat(24)}]  50B/100B`);
  t.is(progressLine('Uploading', 100, 100), `Uploading [${'='.repeat(50)}]  100B/100B`);
});

test('rm is refused while a container uses the image; unknown images and bad names are reported', async (t) => {
  const { url, files, store, inUse } = await server(t);
  await cli(url, ['image', 'import', files.dockerSave]);
  inUse.add(store.get(files.dockerSaveTag).id);
  const refused = await cli(url, ['image', 'rm', files.dockerSaveTag]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /^Error response from daemon: conflict: unable to remove repository reference "capstan-test\/api:save" - a container is using the image\n$/);
  const unknown = await cli(url, ['image', 'rm', 'nothing:here']);
  t.is(unknown.code, 1);
  t.is(unknown.stderr, 'Error response from daemon: No such image: nothing:here\n');
  const badName = await cli(url, ['image', 'import', '--name', 'Bad/Name', files.rootfsTar]);
  t.is(badName.code, 1);
  t.regex(badName.stderr, /invalid reference format/);
  const missing = await cli(url, ['image', 'import', '/nonexistent/archive.tar']);
  t.is(missing.code, 1);
  t.is(missing.stderr, 'capstan: open /nonexistent/archive.tar: no such file or directory\n');
});

test('the API needs the operator role to import or remove, and wants the archive itself as the body', async (t) => {
  const { url, files } = await server(t);
  const body = fs.readFileSync(files.rootfsTar);
  const asViewer = await fetch(`${url}/api/v1/images`, { method: 'POST', body, headers: { authorization: `Bearer ${VIEWER}`, 'content-type': 'application/x-tar' } });
  t.is(asViewer.status, 403);
  const json = await fetch(`${url}/api/v1/images`, { method: 'POST', body: '{}', headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' } });
  t.is(json.status, 415);
  const plain = await fetch(`${url}/api/v1/images?name=plain`, { method: 'POST', body, headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/x-tar' } });
  t.is(plain.status, 200);
  const { images } = (await plain.json()) as { images: ImageRecord[] };
  t.deepEqual(images[0]!.repoTags, ['plain:latest']);
  const list = await fetch(`${url}/api/v1/images`, { headers: { authorization: `Bearer ${VIEWER}` } });
  t.is(((await list.json()) as { images: ImageRecord[] }).images.length, 1);
  const one = await fetch(`${url}/api/v1/images/${encodeURIComponent('plain')}`, { headers: { authorization: `Bearer ${VIEWER}` } });
  t.is(((await one.json()) as ImageRecord).id, images[0]!.id);
  const garbage = await fetch(`${url}/api/v1/images`, {
    method: 'POST',
    body: Buffer.from('not a tar archive, '.repeat(200)),
    headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/x-tar', accept: 'application/x-ndjson' },
  });
  t.is(garbage.status, 200, 'streaming answers commit to 200 first');
  const lines = (await garbage.text()).trim().split('\n').map((line) => JSON.parse(line) as { error?: { code: string } });
  t.is(lines.at(-1)!.error?.code, 'bad_archive');
  const asViewerRm = await fetch(`${url}/api/v1/images/plain`, { method: 'DELETE', headers: { authorization: `Bearer ${VIEWER}` } });
  t.is(asViewerRm.status, 403);
});

test('the ls table formats dangling images and sizes as docker does', (t) => {
  const image = (id: string, repoTags: string[], sizeBytes: number, createdAt: string): ImageRecord => ({
    version: 1, id: `sha256:${id.repeat(64).slice(0, 64)}`, repoTags, layers: [], config: {}, createdAt, importedAt: createdAt, sizeBytes,
  });
  const now = Date.parse('2024-01-01T12:00:00Z');
  const table = formatImageTable(
    [image('a', ['busybox:latest', 'registry:5000/team/busybox:1.36'], 4_261_000, '2024-01-01T10:00:00Z'), image('b', [], 999, '2023-12-01T00:00:00Z')],
    now,
    { trunc: true, quiet: false },
  );
  t.is(
    table,
    [
      'REPOSITORY                   TAG       IMAGE ID       CREATED       SIZE',
      'busybox                      latest    aaaaaaaaaaaa   2 hours ago   4.26MB',
      'registry:5000/team/busybox   1.36      aaaaaaaaaaaa   2 hours ago   4.26MB',
      '<none>                       <none>    bbbbbbbbbbbb   4 weeks ago   999B',
      '',
    ].join('\n'),
  );
});
