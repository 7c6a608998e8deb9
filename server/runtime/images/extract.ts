/**
 * Extracts one layer tar into a directory that overlayfs can use as a lower layer.
 *
 * Safety first: every entry's path is checked before anything touches the disk, by this code and
 * not a library's defaults. Refused, with an error naming the entry:
 *   - absolute paths and paths with `..` components;
 *   - paths that go through a symlink (including one extracted earlier from the same archive),
 *     so `link -> /etc` followed by `link/passwd` cannot write to the host;
 *   - symlinks whose relative target climbs above the layer's root (absolute targets are fine:
 *     they are resolved inside the container's root, never on the host);
 *   - hard links to anything outside this layer (absolute, `..`, through a symlink, or missing);
 *   - entry kinds we cannot represent faithfully (sparse files, multi-volume).
 * Files are created with O_EXCL|O_NOFOLLOW after removing whatever was at the path, so a symlink
 * left at the final component is never followed either.
 *
 * Whiteouts: Docker/OCI layers mark deletions with `.wh.NAME` files and opaque directories with
 * `.wh..wh..opq`. They are turned into overlayfs' own markers (a 0/0 character device, and the
 * trusted.overlay.opaque xattr), which Node cannot create: the caller passes the lists to
 * `capstan-shim overlay-markers`. Layers therefore stay separate and shared between images;
 * nothing is flattened.
 *
 * Device nodes and FIFOs are skipped (containers get their /dev from the shim), as are xattrs.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { checkCompressionRatio } from './budget';
import { badArchive, ImageError, unsafeEntry } from './errors';
import { readTarEntries, type TarHeader } from './tar';
import { TarSplitRecorder } from './tar-split';

export interface LayerMarkers {
  /** Paths (relative to the layer root) that hide the same path in lower layers. */
  whiteouts: string[];
  /** Directories (relative) whose lower-layer content is hidden. */
  opaqueDirectories: string[];
}

export interface ExtractResult {
  /** "sha256:<hex>" of the uncompressed tar stream: the layer's diff ID. */
  digest: string;
  /** Bytes of regular files written. Units: bytes. */
  sizeBytes: number;
  markers: LayerMarkers;
  /** Entries not extracted (device nodes, FIFOs), for the log. */
  skipped: string[];
  /** Entries in the layer besides its root directory (extracted, skipped or whiteouts). */
  entries: number;
  /** The tar's layout without file content, gzip-compressed (tar-split.ts), to rebuild the tar from root/. */
  tarSplit: Buffer;
}

/** Where an entry's data lands verbatim in the layer root (regular files), else undefined. */
function extractedDataPath(header: TarHeader): string | undefined {
  if (header.type !== 'file') return undefined;
  let parts: string[];
  try {
    parts = entryComponents(header.name);
  } catch {
    return undefined; // refused by the writer right after
  }
  if (parts.length === 0 || parts.at(-1)!.startsWith('.wh.')) return undefined;
  return parts.join('/');
}

export interface ExtractOptions {
  /** Called with the count of stored (possibly compressed) bytes read so far, as they are read. */
  onStoredBytes?: (bytes: number) => void;
  /** Charged with every uncompressed byte and every entry; throws to stop the extraction (budget.ts). */
  budget?: { charge(bytes: number): void; countEntry(): void };
  /** Most a gzip-compressed layer may expand (budget.ts: checkCompressionRatio); none when absent. */
  maxCompressionRatio?: number;
}

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const BZIP2_MAGIC = [0x42, 0x5a, 0x68];

function startsWith(chunk: Buffer, magic: number[]): boolean {
  return chunk.length >= magic.length && magic.every((byte, i) => chunk[i] === byte);
}

/** The compression of a stream, from its first bytes. */
export function sniffCompression(head: Buffer): 'gzip' | 'zstd' | 'xz' | 'bzip2' | 'none' {
  if (startsWith(head, GZIP_MAGIC)) return 'gzip';
  if (startsWith(head, ZSTD_MAGIC)) return 'zstd';
  if (startsWith(head, XZ_MAGIC)) return 'xz';
  if (startsWith(head, BZIP2_MAGIC)) return 'bzip2';
  return 'none';
}

/** The uncompressed bytes of `input`, gunzipped when it is gzip; other compressions are refused. */
async function* uncompressed(input: Readable, onStoredBytes: (bytes: number) => void, maxRatio?: number): AsyncGenerator<Buffer> {
  const iterator = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let first = await iterator.next();
  // Sniffing needs a few bytes; the first chunk nearly always has them.
  let head: Buffer = first.done ? Buffer.alloc(0) : (first.value as Buffer);
  while (!first.done && head.length < 8) {
    first = await iterator.next();
    if (!first.done) head = Buffer.concat([head, first.value as Buffer]);
  }
  let stored = head.length;
  onStoredBytes(stored);
  const rest = async function* (): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    if (first.done) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      stored += (next.value as Buffer).length;
      onStoredBytes(stored);
      yield next.value as Buffer;
    }
  };
  const compression = sniffCompression(head);
  if (compression === 'none') {
    yield* rest();
    return;
  }
  if (compression !== 'gzip') {
    throw new ImageError(400, 'unsupported_archive', `${compression}-compressed layers are not supported; decompress the archive first`);
  }
  // 256 KiB out per chunk, not zlib's 16 KiB: each chunk goes through the hash, the budget and
  // the tar reader as its own step, and a 25 MiB layer took 1,600 of them.
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  pipeline(Readable.from(rest()), gunzip, () => {
    // Errors surface through the gunzip stream's iterator below.
  });
  let unpacked = 0;
  for await (const chunk of gunzip) {
    unpacked += (chunk as Buffer).length;
    checkCompressionRatio(unpacked, stored, maxRatio, 'the layer');
    yield chunk as Buffer;
  }
}

/** Linux's PATH_MAX less its NUL, and NAME_MAX: longer names could not be created anyway. Units: bytes. */
const MAX_PATH_BYTES = 4095;
const MAX_NAME_BYTES = 255;

/** The components of an entry's path, or a refusal. "./" (the root itself) gives []. */
export function entryComponents(name: string): string[] {
  if (name.includes('\0')) throw unsafeEntry(name, 'the path contains a NUL byte');
  // eslint-disable-next-line no-control-regex
  if (/[\x01-\x1f\x7f]/.test(name)) throw unsafeEntry(name, 'the path contains a control character');
  if (Buffer.byteLength(name) > MAX_PATH_BYTES) throw unsafeEntry(name, `the path is longer than ${MAX_PATH_BYTES} bytes`);
  if (name.startsWith('/')) throw unsafeEntry(name, 'absolute paths are not allowed');
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw unsafeEntry(name, 'paths with ".." are not allowed');
  if (parts.some((part) => Buffer.byteLength(part) > MAX_NAME_BYTES)) throw unsafeEntry(name, `a path component is longer than ${MAX_NAME_BYTES} bytes`);
  return parts;
}

/** Whether a relative symlink target, resolved from the link's directory, climbs above the root. Pure. */
export function symlinkEscapes(linkParts: readonly string[], target: string): boolean {
  if (target.startsWith('/')) return false; // resolved inside the container's root
  let depth = linkParts.length - 1;
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      depth--;
      if (depth < 0) return true;
    } else {
      depth++;
    }
  }
  return false;
}

/** fs.writeSync until every byte of `chunk` is written (a write may take fewer). */
function writeAll(fd: number, chunk: Buffer): void {
  for (let offset = 0; offset < chunk.length; ) offset += fs.writeSync(fd, chunk, offset, chunk.length - offset);
}

function lstatOrUndefined(file: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * What is at `relative` inside the layer, looked up one component at a time without following any
 * symlink: 'unreachable' when a parent is missing or is not a real directory.
 */
function inLayer(root: string, relative: string): 'unreachable' | 'missing' | 'directory' | 'other' {
  const parts = relative.split('/');
  let current = root;
  for (let i = 0; i < parts.length; i++) {
    current = path.join(current, parts[i]!);
    const stat = lstatOrUndefined(current);
    if (i < parts.length - 1) {
      if (!stat || !stat.isDirectory()) return 'unreachable';
    } else {
      if (!stat) return 'missing';
      return stat.isDirectory() ? 'directory' : 'other';
    }
  }
  return 'unreachable';
}

/** Only root can give files away; an unprivileged store keeps them as its own. */
const PRESERVE_OWNERSHIP = process.getuid?.() === 0;

class LayerWriter {
  readonly whiteouts = new Set<string>();
  readonly opaques = new Set<string>();
  readonly skipped: string[] = [];
  sizeBytes = 0;
  /** Directories whose mode and times are applied last (children are written into them first). */
  private readonly directories: Array<{ file: string; mode: number; mtime: number }> = [];

  constructor(private readonly root: string) {}

  /**
   * Makes sure every parent of `parts` is a real directory inside the root, creating missing ones.
   * A parent that is a symlink is refused: that is how archives smuggle writes out.
   */
  private parentDirectory(parts: readonly string[], entry: string, create: boolean): string {
    let directory = this.root;
    for (let i = 0; i < parts.length - 1; i++) {
      const next = path.join(directory, parts[i]!);
      const stat = lstatOrUndefined(next);
      if (!stat) {
        if (!create) throw unsafeEntry(entry, `${parts.slice(0, i + 1).join('/')} does not exist in this layer`);
        fs.mkdirSync(next, { mode: 0o755 });
      } else if (stat.isSymbolicLink()) {
        throw unsafeEntry(entry, `the path goes through the symlink ${parts.slice(0, i + 1).join('/')}`);
      } else if (!stat.isDirectory()) {
        throw unsafeEntry(entry, `${parts.slice(0, i + 1).join('/')} is not a directory`);
      }
      directory = next;
    }
    return directory;
  }

  /** Removes whatever is at `file` (never following a symlink there). */
  private clear(file: string, keepDirectory: boolean): void {
    const stat = lstatOrUndefined(file);
    if (!stat) return;
    if (stat.isDirectory()) {
      if (keepDirectory) return;
      fs.rmSync(file, { recursive: true, force: true });
    } else {
      fs.unlinkSync(file);
    }
  }

  async write(header: TarHeader, body: () => AsyncGenerator<Buffer>): Promise<void> {
    const entry = header.name;
    const parts = entryComponents(entry);
    if (parts.length === 0) return; // the root directory itself
    const base = parts.at(-1)!;
    const relative = parts.join('/');

    if (base.startsWith('.wh.')) {
      const parent = this.parentDirectory(parts, entry, true);
      const parentRelative = parts.slice(0, -1).join('/');
      if (base === '.wh..wh..opq') {
        this.opaques.add(parentRelative === '' ? '.' : parentRelative);
      } else if (!base.startsWith('.wh..wh.')) {
        const hidden = base.slice('.wh.'.length);
        if (hidden === '' || hidden === '.' || hidden === '..') throw unsafeEntry(entry, 'a whiteout for an invalid name');
        this.clear(path.join(parent, hidden), false);
        this.whiteouts.add(parentRelative === '' ? hidden : `${parentRelative}/${hidden}`);
      }
      // Other .wh..wh.* names are aufs bookkeeping (hard-link directories): nothing to extract.
      return;
    }

    const directory = this.parentDirectory(parts, entry, true);
    const file = path.join(directory, base);
    this.whiteouts.delete(relative);

    switch (header.type) {
      case 'directory': {
        this.clear(file, true);
        if (!lstatOrUndefined(file)) fs.mkdirSync(file, { mode: 0o700 });
        if (PRESERVE_OWNERSHIP) fs.lchownSync(file, header.uid, header.gid);
        this.directories.push({ file, mode: header.mode, mtime: header.mtime });
        return;
      }
      case 'file': {
        this.clear(file, false);
        // Synchronous writes, as the directories and links above: a write of one chunk (256 KiB at
        // most) to the page cache is tens of microseconds, and a round trip through the thread
        // pool per chunk made extraction wait on itself (100 MiB: 22 ms of writeSync, 45-100 ms
        // of promise writes, measured here).
        const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
        try {
          for await (const chunk of body()) writeAll(fd, chunk);
          if (PRESERVE_OWNERSHIP) fs.fchownSync(fd, header.uid, header.gid);
          // After chown: chown clears setuid/setgid bits.
          fs.fchmodSync(fd, header.mode);
          fs.futimesSync(fd, header.mtime, header.mtime);
        } finally {
          fs.closeSync(fd);
        }
        this.sizeBytes += header.size;
        return;
      }
      case 'symlink': {
        if (header.linkname === '') throw unsafeEntry(entry, 'a symlink without a target');
        if (header.linkname.includes('\0')) throw unsafeEntry(entry, 'the symlink target contains a NUL byte');
        if (Buffer.byteLength(header.linkname) > MAX_PATH_BYTES) throw unsafeEntry(entry, `the symlink target is longer than ${MAX_PATH_BYTES} bytes`);
        if (symlinkEscapes(parts, header.linkname)) throw unsafeEntry(entry, `the symlink points outside the image (${header.linkname})`);
        this.clear(file, false);
        fs.symlinkSync(header.linkname, file);
        if (PRESERVE_OWNERSHIP) fs.lchownSync(file, header.uid, header.gid);
        fs.lutimesSync(file, header.mtime, header.mtime);
        return;
      }
      case 'hardlink': {
        if (header.linkname.startsWith('/')) throw unsafeEntry(entry, `the hard link points outside the image (${header.linkname})`);
        let targetParts: string[];
        try {
          targetParts = entryComponents(header.linkname);
        } catch {
          throw unsafeEntry(entry, `the hard link points outside the image (${header.linkname})`);
        }
        if (targetParts.length === 0) throw unsafeEntry(entry, 'a hard link to the root directory');
        const targetDirectory = this.parentDirectory(targetParts, entry, false);
        const target = path.join(targetDirectory, targetParts.at(-1)!);
        const stat = lstatOrUndefined(target);
        if (!stat) throw unsafeEntry(entry, `the hard link target ${header.linkname} is not in this layer`);
        if (stat.isDirectory()) throw unsafeEntry(entry, `the hard link target ${header.linkname} is a directory`);
        if (target === file) return;
        this.clear(file, false);
        fs.linkSync(target, file);
        return;
      }
      case 'chardev':
      case 'blockdev':
      case 'fifo':
        this.skipped.push(entry);
        return;
      default:
        throw new ImageError(400, 'unsupported_entry', `archive entry ${JSON.stringify(entry)} has a type this importer does not support (tar type "${header.typeFlag}")`, entry);
    }
  }

  /** Directory modes and times, deepest first so setting one never disturbs another. */
  finish(): void {
    for (const { file, mode, mtime } of this.directories.reverse()) {
      fs.chmodSync(file, mode);
      fs.utimesSync(file, mtime, mtime);
    }
  }
}

/** Tells the recorder what an entry replaces in the layer root (LayerWriter.write's clearing, in short). */
function noteReplacement(recorder: TarSplitRecorder, header: TarHeader, parts: readonly string[]): void {
  const base = parts.at(-1)!;
  if (base.startsWith('.wh.')) {
    if (base.startsWith('.wh..wh.')) return; // opaque markers and aufs bookkeeping remove nothing of this layer
    recorder.replaced([...parts.slice(0, -1), base.slice('.wh.'.length)].join('/'), true, false);
    return;
  }
  const ownClaim = header.type === 'file' && header.size > 0;
  recorder.replaced(parts.join('/'), header.type !== 'directory', ownClaim);
}

/**
 * Extracts the layer tar `input` (plain or gzip) into `root`, an existing empty directory. On
 * failure `root` is left partly written: the caller removes it (it is a private staging folder).
 */
export async function extractLayer(input: Readable, root: string, options: ExtractOptions = {}): Promise<ExtractResult> {
  const hash = createHash('sha256');
  const source = uncompressed(input, options.onStoredBytes ?? (() => {}), options.maxCompressionRatio);
  const budget = options.budget;
  const hashed = (async function* (): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      budget?.charge(chunk.length);
      hash.update(chunk);
      yield chunk;
    }
  })();
  const writer = new LayerWriter(root);
  const recorder = new TarSplitRecorder(extractedDataPath);
  let entries = 0;
  try {
    for await (const { header, body } of readTarEntries(hashed, recorder)) {
      budget?.countEntry();
      const parts = entryComponents(header.name);
      if (parts.length > 0) {
        entries++;
        noteReplacement(recorder, header, parts);
      }
      await writer.write(header, body);
    }
    // The digest covers the whole stream, end-of-archive blocks and padding included; so does the record.
    for await (const chunk of hashed) recorder.raw(chunk);
  } catch (error) {
    input.destroy();
    recorder.discard();
    await hashed.return(undefined);
    if (error instanceof ImageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR') throw badArchive(`the layer is not valid gzip data: ${(error as Error).message}`);
    throw error;
  }
  writer.finish();
  // A marker whose directory was later replaced (by a file or a symlink) in the same layer has
  // nothing left to mark; one whose path now holds a real entry is superseded by it.
  const whiteouts = [...writer.whiteouts].filter((relative) => inLayer(root, relative) === 'missing');
  const opaqueDirectories = [...writer.opaques].filter((relative) => relative === '.' || inLayer(root, relative) === 'directory');
  return {
    digest: `sha256:${hash.digest('hex')}`,
    sizeBytes: writer.sizeBytes,
    markers: { whiteouts, opaqueDirectories },
    skipped: writer.skipped,
    entries,
    tarSplit: await recorder.finish(),
  };
}
