/**
 * Archives an attacker would send: raw tar headers of any type (devices, FIFOs, pax records with
 * anything in them), gzip bombs, docker save archives with whatever manifest. Built in memory,
 * deterministically; nothing here touches the image store.
 */
import { createHash } from 'node:crypto';
import { createGzip } from 'node:zlib';
import { seededRandom } from './random';
import { BLOCK_BYTES, packTar, tarEnd, tarHeader, tarPadding, type TarWriteEntry } from '../../server/runtime/images/tar';

/** A header block of any type flag ('3' chardev, '4' blockdev, '6' FIFO, 'x' pax ...), checksum fixed. */
export function rawHeader(entry: { name: string; typeFlag: string; size?: number; mode?: number; linkname?: string; devmajor?: number; devminor?: number }): Buffer {
  const block = tarHeader({ name: entry.name, type: 'file', size: entry.size ?? 0, mode: entry.mode ?? 0o644, ...(entry.linkname !== undefined ? { linkname: entry.linkname } : {}) });
  if (block.length !== BLOCK_BYTES) throw new Error('rawHeader: the name must fit a ustar header');
  block.write(entry.typeFlag, 156, 1, 'latin1');
  if (entry.devmajor !== undefined) block.write(entry.devmajor.toString(8).padStart(7, '0') + '\0', 329, 8, 'latin1');
  if (entry.devminor !== undefined) block.write(entry.devminor.toString(8).padStart(7, '0') + '\0', 337, 8, 'latin1');
  block.write('        ', 148, 8, 'latin1');
  let sum = 0;
  for (let i = 0; i < BLOCK_BYTES; i++) sum += block[i]!;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return block;
}

/** A pax extended header (records given raw, so they may hold NULs or control characters). */
export function paxHeader(records: Record<string, string>): Buffer {
  let body = '';
  for (const [key, value] of Object.entries(records)) {
    const text = ` ${key}=${value}\n`;
    let length = Buffer.byteLength(text) + 1;
    while (String(length).length + Buffer.byteLength(text) !== length) length = String(length).length + Buffer.byteLength(text);
    body += `${length}${text}`;
  }
  const data = Buffer.from(body, 'utf8');
  return Buffer.concat([rawHeader({ name: 'PaxHeader', typeFlag: 'x', size: data.length }), data, tarPadding(data.length)]);
}

/** A file entry: header, content, padding. */
export function fileEntry(name: string, content: Buffer | string, options: Partial<TarWriteEntry> = {}): Buffer {
  const data = Buffer.from(content);
  return Buffer.concat([tarHeader({ ...options, name, type: 'file', size: data.length }), data, tarPadding(data.length)]);
}

/** Blocks joined and the end-of-archive blocks added. */
export function tarOf(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, tarEnd()]);
}

/**
 * A gzip-compressed tar holding one file of `unpackedBytes` zeros: a few hundred KiB that unpack
 * to whatever is asked. Units: bytes.
 */
export async function gzipBomb(unpackedBytes: number): Promise<Buffer> {
  const gzip = createGzip({ level: 9 });
  const chunks: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise((resolve, reject) => {
    gzip.once('end', resolve);
    gzip.once('error', reject);
  });
  const write = (data: Buffer) => new Promise<void>((resolve) => (gzip.write(data) ? resolve() : gzip.once('drain', () => resolve())));
  await write(tarHeader({ name: 'zeros', type: 'file', size: unpackedBytes }));
  const zeros = Buffer.alloc(4 * 1024 * 1024);
  for (let left = unpackedBytes; left > 0; left -= zeros.length) await write(left >= zeros.length ? zeros : zeros.subarray(0, left));
  await write(Buffer.concat([tarPadding(unpackedBytes), tarEnd()]));
  gzip.end();
  await done;
  return Buffer.concat(chunks);
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A classic `docker save` archive of one image with these layer members and this manifest RepoTags value. */
export function dockerSaveOf(layers: Buffer[], repoTags: unknown, options: { diffIds?: boolean } = {}): Buffer {
  const diffIds = options.diffIds === false ? [] : layers.map((layer) => `sha256:${sha256(layer)}`);
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: diffIds } });
  const configName = `${sha256(config)}.json`;
  const members = layers.map((_, i) => `layer${i}/layer.tar`);
  return packTar([
    { name: configName, type: 'file', content: config },
    ...layers.map((layer, i) => ({ name: members[i]!, type: 'file' as const, content: layer })),
    { name: 'manifest.json', type: 'file', content: JSON.stringify([{ Config: configName, RepoTags: repoTags, Layers: members }]) },
  ]);
}

/** Deterministic bytes: garbage that is the same on every run. */
export function garbage(bytes: number, seed: number): Buffer {
  const next = seededRandom(seed);
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) out[i] = Math.floor(next() * 256);
  return out;
}
