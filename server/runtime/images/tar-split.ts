/**
 * A layer's original tar, kept as metadata only, and rebuilt byte for byte from it.
 *
 * The store keeps layers extracted (layers/<hex>/root), but `save` (and a registry push) must hand
 * out tars whose sha256 is the layer's diff ID, or `docker load` refuses them. Re-packing the
 * directory cannot give the same bytes (header fields, entry order, pax records and padding vary
 * between tar writers), so while a layer is extracted every byte of its tar that is not a regular
 * file's content is recorded, with the file's path and size in place of the content (the idea of
 * docker's tar-split; the format here is Capstan's own):
 *
 *   "capstan-tar-split 1\n", then segments:
 *     'R' <u32 BE length> <bytes>                  bytes of the tar as they were
 *     'F' <u16 BE path length> <path> <u64 BE size> the content of root/<path>, size bytes
 *     'X' <u16 BE length> <reason>                 the tar cannot be rebuilt (a later entry of the
 *                                                  same tar replaced content referenced earlier)
 *
 * gzip-compressed in layers/<hex>/tar-split.gz. Rebuilding streams the segments, reading each
 * file from root/ (never through a symlink), and checks the sha256 as it goes: a file changed on
 * disk gives a clear error instead of a silently different tar.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { createGzip, gunzipSync } from 'node:zlib';
import { ImageError } from './errors';
import type { TarHeader, TarRecorder } from './tar';

export const TAR_SPLIT_FILE = 'tar-split.gz';
const MAGIC = Buffer.from('capstan-tar-split 1\n');
/** Raw bytes gathered before a segment is written. Units: bytes. */
const RAW_SEGMENT_BYTES = 64 * 1024;

/**
 * Records one tar stream. `dataPath` says, for an entry with data, the path (relative to the
 * layer root) where its content is extracted verbatim, or undefined to keep the data in the record.
 */
export class TarSplitRecorder implements TarRecorder {
  private readonly gzip = createGzip();
  private readonly compressed: Buffer[] = [];
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly done: Promise<void>;
  /** Paths referenced by 'F' segments, and every directory above them. */
  private readonly claimed = new Set<string>();
  private readonly claimedAncestors = new Set<string>();
  private unreproducible = false;

  constructor(private readonly dataPath: (header: TarHeader) => string | undefined) {
    this.gzip.on('data', (chunk: Buffer) => this.compressed.push(chunk));
    this.done = new Promise((resolve, reject) => {
      this.gzip.on('end', resolve);
      this.gzip.on('error', reject);
    });
    this.gzip.write(MAGIC);
  }

  raw(bytes: Buffer): void {
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (this.pendingBytes >= RAW_SEGMENT_BYTES) this.flushRaw();
  }

  entryData(header: TarHeader, size: number): boolean {
    const relative = this.dataPath(header);
    if (relative === undefined) return false;
    if (this.claimed.has(relative)) this.markUnreproducible(`its tar has more than one entry for ${relative}, and only the last one's content is kept`);
    this.claimed.add(relative);
    for (let slash = relative.indexOf('/'); slash !== -1; slash = relative.indexOf('/', slash + 1)) this.claimedAncestors.add(relative.slice(0, slash));
    this.flushRaw();
    const name = Buffer.from(relative, 'utf8');
    const head = Buffer.alloc(3);
    head.write('F', 0, 'latin1');
    head.writeUInt16BE(name.length, 1);
    const sizeField = Buffer.alloc(8);
    sizeField.writeBigUInt64BE(BigInt(size));
    this.gzip.write(Buffer.concat([head, name, sizeField]));
    return true;
  }

  /**
   * An entry of the tar replaces what is at `relative` (with `subtree`, all under it too: a
   * whiteout, or a non-directory where a directory was). Content referenced earlier is then gone
   * from root/, and the tar cannot be rebuilt: recorded, so save says so before sending a byte.
   * `ownClaim`: the entry's own data was just referenced at that path.
   */
  replaced(relative: string, subtree: boolean, ownClaim: boolean): void {
    if (this.unreproducible) return;
    if (!ownClaim && this.claimed.has(relative)) this.markUnreproducible(`a later entry of its tar replaces ${relative}`);
    else if (subtree && this.claimedAncestors.has(relative)) this.markUnreproducible(`a later entry of its tar removes files under ${relative}`);
  }

  private markUnreproducible(reason: string): void {
    if (this.unreproducible) return;
    this.unreproducible = true;
    this.flushRaw();
    const text = Buffer.from(reason, 'utf8').subarray(0, 0xffff);
    const head = Buffer.alloc(3);
    head.write('X', 0, 'latin1');
    head.writeUInt16BE(text.length, 1);
    this.gzip.write(Buffer.concat([head, text]));
  }

  private flushRaw(): void {
    if (this.pendingBytes === 0) return;
    const head = Buffer.alloc(5);
    head.write('R', 0, 'latin1');
    head.writeUInt32BE(this.pendingBytes, 1);
    this.gzip.write(Buffer.concat([head, ...this.pending]));
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Stops recording (the extraction failed): frees the compressor. */
  discard(): void {
    this.done.catch(() => undefined);
    this.gzip.destroy();
  }

  /** The gzip-compressed record, once the whole stream has been seen. */
  async finish(): Promise<Buffer> {
    this.flushRaw();
    this.gzip.end();
    await this.done;
    return Buffer.concat(this.compressed);
  }
}

type Segment = { raw: Buffer } | { file: string; size: number } | { unreproducible: string };

function corrupt(file: string, why: string): ImageError {
  return new ImageError(500, 'tar_split_corrupt', `${file} is damaged (${why}); remove the images that use the layer and load them again`);
}

/** The segments of a record file. */
export function parseTarSplit(compressed: Buffer, file = TAR_SPLIT_FILE): Segment[] {
  let data: Buffer;
  try {
    data = gunzipSync(compressed);
  } catch (error) {
    throw corrupt(file, (error as Error).message);
  }
  if (!data.subarray(0, MAGIC.length).equals(MAGIC)) throw corrupt(file, 'not a Capstan tar-split record');
  const segments: Segment[] = [];
  let offset = MAGIC.length;
  while (offset < data.length) {
    const kind = String.fromCharCode(data[offset]!);
    if (kind === 'R' && offset + 5 <= data.length) {
      const length = data.readUInt32BE(offset + 1);
      if (offset + 5 + length > data.length) throw corrupt(file, 'a segment is cut short');
      segments.push({ raw: data.subarray(offset + 5, offset + 5 + length) });
      offset += 5 + length;
    } else if (kind === 'F' && offset + 3 <= data.length) {
      const length = data.readUInt16BE(offset + 1);
      if (offset + 3 + length + 8 > data.length) throw corrupt(file, 'a segment is cut short');
      const name = data.subarray(offset + 3, offset + 3 + length).toString('utf8');
      const size = Number(data.readBigUInt64BE(offset + 3 + length));
      segments.push({ file: name, size });
      offset += 3 + length + 8;
    } else if (kind === 'X' && offset + 3 <= data.length) {
      const length = data.readUInt16BE(offset + 1);
      if (offset + 3 + length > data.length) throw corrupt(file, 'a segment is cut short');
      segments.push({ unreproducible: data.subarray(offset + 3, offset + 3 + length).toString('utf8') });
      offset += 3 + length;
    } else {
      throw corrupt(file, `unknown segment at byte ${offset}`);
    }
  }
  return segments;
}

export interface RebuiltTar {
  /** Length of the tar. Units: bytes. */
  sizeBytes: number;
  /** The tar; fails (with an ImageError) when a file no longer matches the record or the digest. */
  stream: Readable;
}

function layerChanged(diffId: string, why: string): ImageError {
  return new ImageError(500, 'layer_changed', `layer ${diffId} cannot be reproduced: ${why}`);
}

/**
 * Rebuilds the tar of the layer in `layerDirectory` (holding root/ and tar-split.gz) and checks
 * it hashes to `diffId`. A layer imported before records were kept has none: refused with a clear
 * message, since a re-packed tar would have another digest than the image config states.
 */
export function rebuildLayerTar(layerDirectory: string, diffId: string): RebuiltTar {
  const recordFile = path.join(layerDirectory, TAR_SPLIT_FILE);
  let compressed: Buffer;
  try {
    compressed = fs.readFileSync(recordFile);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw new ImageError(
      409,
      'layer_tar_unavailable',
      `layer ${diffId} was imported before Capstan kept the layout of layer tars, so its original tar cannot be reproduced; import or load the image again to record it`,
    );
  }
  const parsed = parseTarSplit(compressed, recordFile);
  const refusal = parsed.find((segment) => 'unreproducible' in segment);
  if (refusal && 'unreproducible' in refusal) {
    throw new ImageError(409, 'layer_tar_unreproducible', `layer ${diffId} cannot be rebuilt from its files: ${refusal.unreproducible}`);
  }
  const segments = parsed as Array<Exclude<Segment, { unreproducible: string }>>;
  const sizeBytes = segments.reduce((sum, segment) => sum + ('raw' in segment ? segment.raw.length : segment.size), 0);
  const root = path.join(layerDirectory, 'root');

  async function* generate(): AsyncGenerator<Buffer> {
    const hash = createHash('sha256');
    for (const segment of segments) {
      if ('raw' in segment) {
        hash.update(segment.raw);
        yield segment.raw;
        continue;
      }
      for await (const chunk of readExactly(root, segment.file, segment.size, diffId)) {
        hash.update(chunk);
        yield chunk;
      }
    }
    const digest = `sha256:${hash.digest('hex')}`;
    if (digest !== diffId) throw layerChanged(diffId, `the rebuilt tar has digest ${digest} (a file of the layer changed on disk)`);
  }

  return { sizeBytes, stream: Readable.from(generate(), { objectMode: false }) };
}

/** `size` bytes of root/<relative>, opened without following a symlink at its last component. */
async function* readExactly(root: string, relative: string, size: number, diffId: string): AsyncGenerator<Buffer> {
  const file = path.join(root, relative);
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (error) {
    throw layerChanged(diffId, `${relative}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message} (open ${file})`);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile() || stat.size !== size) {
      throw layerChanged(diffId, `${relative} is ${stat.isFile() ? `${stat.size} bytes` : 'no longer a regular file'}, the layer's tar had ${size} bytes`);
    }
    let remaining = size;
    while (remaining > 0) {
      const buffer = Buffer.alloc(Math.min(remaining, 256 * 1024));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, size - remaining);
      if (bytesRead === 0) throw layerChanged(diffId, `${relative} shrank while it was read`);
      remaining -= bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}
