/** A pull's layout whose layer blobs arrive while the import reads it. */
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { ArrivingLayout, layoutBlobMember } from '../../server/registry/arriving-layout';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const OTHER = `sha256:${'cd'.repeat(32)}`;

function layout(t: { teardown(fn: () => void): void }): { root: string; layout: ArrivingLayout } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-arriving-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  fs.mkdirSync(path.join(root, 'blobs', 'sha256'), { recursive: true });
  fs.writeFileSync(path.join(root, 'index.json'), '{}');
  return { root, layout: new ArrivingLayout(root) };
}

async function read(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

test('a pending layer is listed with the manifest size, and opening it waits for its arrival', async (t) => {
  const { root, layout: arriving } = layout(t);
  arriving.expect(DIGEST, 11);
  const member = layoutBlobMember(DIGEST);
  t.is(member, `blobs/sha256/${'ab'.repeat(32)}`);
  t.true(arriving.has(member));
  t.true(arriving.has('index.json'));
  t.false(arriving.has(layoutBlobMember(OTHER)));
  t.is(arriving.size(member), 11);
  t.true(arriving.names().includes(member));
  t.is(await arriving.readText('index.json'), '{}');

  const opened = read(arriving.open(member));
  let settled = false;
  void opened.then(() => (settled = true));
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.false(settled, 'nothing is read before the blob arrives');
  const verified = path.join(root, 'verified');
  fs.writeFileSync(verified, 'layer bytes');
  arriving.arrived(DIGEST, verified);
  t.is(await opened, 'layer bytes');
  // Linked into the layout, so a concurrent pull removing the verified copy does not take it away.
  fs.rmSync(verified);
  t.is(await read(arriving.open(member)), 'layer bytes');
});

test('a layer that fails (or is never started) fails whoever opens it, before or after', async (t) => {
  const { layout: arriving } = layout(t);
  arriving.expect(DIGEST, 1);
  arriving.expect(OTHER, 1);
  const early = read(arriving.open(layoutBlobMember(DIGEST)));
  arriving.failed(DIGEST, new Error('blob truncated'));
  await t.throwsAsync(early, { message: 'blob truncated' });
  arriving.failAll(new Error('downloads stopped'));
  await t.throwsAsync(read(arriving.open(layoutBlobMember(OTHER))), { message: 'downloads stopped' });
  // The first outcome stands.
  await t.throwsAsync(read(arriving.open(layoutBlobMember(DIGEST))), { message: 'blob truncated' });
});

test('a verified blob that cannot be linked in fails the layer with the link error', async (t) => {
  const { root, layout: arriving } = layout(t);
  arriving.expect(DIGEST, 1);
  arriving.arrived(DIGEST, path.join(root, 'no-such-file'));
  await t.throwsAsync(read(arriving.open(layoutBlobMember(DIGEST))), { code: 'ENOENT' });
});
