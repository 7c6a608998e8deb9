/**
 * The tar format, read and written by hand: POSIX ustar with pax extended headers, and GNU long
 * names. Hand-written rather than a library because the image store needs entry offsets (to read
 * layers straight out of a `docker save` archive) and full control over every path before it
 * touches the disk. Header parsing is pure; readTarEntries streams from any byte source.
 */
import { badArchive } from './errors';

export const BLOCK_BYTES = 512;

export type TarEntryType =
  | 'file'
  | 'hardlink'
  | 'symlink'
  | 'chardev'
  | 'blockdev'
  | 'directory'
  | 'fifo'
  | 'pax'
  | 'pax-global'
  | 'gnu-longname'
  | 'gnu-longlink'
  | 'unsupported';

export interface TarHeader {
  /** The path as stored (pax `path` / GNU long name applied). */
  name: string;
  type: TarEntryType;
  /** The raw type flag, for messages. */
  typeFlag: string;
  /** Permission bits and setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Units: bytes. */
  size: number;
  /** Units: seconds since the Unix epoch. */
  mtime: number;
  linkname: string;
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'chardev',
  '4': 'blockdev',
  '5': 'directory',
  '6': 'fifo',
  x: 'pax',
  g: 'pax-global',
  L: 'gnu-longname',
  K: 'gnu-longlink',
};

function text(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? length : end).toString('utf8');
}

/** An octal field, or GNU's base-256 (first byte 0x80) for values that do not fit. */
function numeric(block: Buffer, start: number, length: number, what: string): number {
  const field = block.subarray(start, start + length);
  if (field[0]! & 0x80) {
    let value = field[0]! & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + field[i]!;
    if (!Number.isSafeInteger(value)) throw badArchive(`tar header: ${what} is too large`);
    return value;
  }
  const digits = text(block, start, length).trim();
  if (digits === '') return 0;
  if (!/^[0-7]+$/.test(digits)) throw badArchive(`tar header: ${what} is not an octal number: ${JSON.stringify(digits)}`);
  return Number.parseInt(digits, 8);
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK_BYTES; i++) if (block[i] !== 0) return false;
  return true;
}

/** Parses one 512-byte header block; null for an all-zero block (end of archive). */
export function parseHeaderBlock(block: Buffer): TarHeader | null {
  if (block.length !== BLOCK_BYTES) throw badArchive('truncated tar header');
  if (isZeroBlock(block)) return null;
  let stored: number;
  try {
    stored = numeric(block, 148, 8, 'checksum');
  } catch {
    throw badArchive('not a tar archive (the header checksum is not a number)');
  }
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK_BYTES; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  if (stored !== unsigned && stored !== signed) throw badArchive('not a tar archive (header checksum mismatch)');
  const magic = block.subarray(257, 263).toString('latin1');
  let name = text(block, 0, 100);
  // POSIX ustar splits long names into prefix/name; GNU tar uses that area for other fields.
  if (magic === 'ustar\0') {
    const prefix = text(block, 345, 155);
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  const typeFlag = String.fromCharCode(block[156]!);
  let type = TYPES[typeFlag] ?? 'unsupported';
  // Old (v7) archives mark directories only by a trailing slash.
  if (type === 'file' && typeFlag !== '7' && name.endsWith('/')) type = 'directory';
  return {
    name,
    type,
    typeFlag,
    mode: numeric(block, 100, 8, 'mode') & 0o7777,
    uid: numeric(block, 108, 8, 'uid'),
    gid: numeric(block, 116, 8, 'gid'),
    size: numeric(block, 124, 12, 'size'),
    mtime: numeric(block, 136, 12, 'mtime'),
    linkname: text(block, 157, 100),
  };
}

/** pax extended header records: "<length> <key>=<value>\n". */
export function parsePaxRecords(body: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let offset = 0;
  while (offset < body.length) {
    const space = body.indexOf(0x20, offset);
    if (space === -1) break;
    const length = Number.parseInt(body.subarray(offset, space).toString('latin1'), 10);
    if (!Number.isInteger(length) || length <= 0 || offset + length > body.length) throw badArchive('malformed pax header');
    const record = body.subarray(space + 1, offset + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (equals > 0) records.set(record.slice(0, equals), record.slice(equals + 1));
    offset += length;
  }
  return records;
}

/** Applies pax/GNU overrides to the header they precede. */
export function applyOverrides(header: TarHeader, pax: Map<string, string> | undefined, longName?: string, longLink?: string): TarHeader {
  const result = { ...header };
  if (longName !== undefined) result.name = longName;
  if (longLink !== undefined) result.linkname = longLink;
  if (pax) {
    const path = pax.get('path');
    if (path !== undefined) result.name = path;
    const linkpath = pax.get('linkpath');
    if (linkpath !== undefined) result.linkname = linkpath;
    for (const key of ['size', 'uid', 'gid'] as const) {
      const value = pax.get(key);
      if (value === undefined) continue;
      if (!/^\d+$/.test(value)) throw badArchive(`malformed pax ${key}: ${JSON.stringify(value)}`);
      result[key] = Number(value);
    }
    const mtime = pax.get('mtime');
    if (mtime !== undefined && /^\d+(\.\d+)?$/.test(mtime)) result.mtime = Math.floor(Number(mtime));
    if ([...pax.keys()].some((key) => key.startsWith('GNU.sparse.'))) result.type = 'unsupported';
  }
  return result;
}

export function paddedSize(size: number): number {
  return Math.ceil(size / BLOCK_BYTES) * BLOCK_BYTES;
}

/** Reads exact byte counts from an async source of chunks. */
export class ChunkReader {
  private readonly iterator: AsyncIterator<Buffer | string>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;

  constructor(source: AsyncIterable<Buffer | string>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    const { value, done } = await this.iterator.next();
    if (done) {
      this.ended = true;
      return false;
    }
    const chunk = typeof value === 'string' ? Buffer.from(value) : value;
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    return true;
  }

  /** Exactly `n` bytes, or fewer at the end of the source. */
  async read(n: number): Promise<Buffer> {
    while (this.buffered < n && (await this.pull())) {
      // keep pulling
    }
    const take = Math.min(n, this.buffered);
    const joined = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const result = joined.subarray(0, take);
    const rest = joined.subarray(take);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return result;
  }

  /** Whatever is buffered past the last read, taken out (for a recorder of trailing bytes). */
  takeBuffered(): Buffer {
    const rest = Buffer.concat(this.chunks);
    this.chunks = [];
    this.buffered = 0;
    return rest;
  }

  /** Up to `max` bytes, whatever is available first; empty at the end. */
  async readSome(max: number): Promise<Buffer> {
    if (this.buffered === 0) await this.pull();
    while (this.buffered === 0 && !this.ended) await this.pull();
    const first = this.chunks[0];
    if (!first) return Buffer.alloc(0);
    const take = Math.min(max, first.length);
    const result = first.subarray(0, take);
    if (take === first.length) this.chunks.shift();
    else this.chunks[0] = first.subarray(take);
    this.buffered -= take;
    return result;
  }
}

export interface TarEntry {
  header: TarHeader;
  /** The entry's content, in chunks. Must be read before the next entry, or it is skipped. */
  body(): AsyncGenerator<Buffer>;
}

/**
 * Told about every byte readTarEntries consumes, in stream order, so the exact stream can be
 * rebuilt later (tar-split.ts): metadata bytes (header blocks, pax and GNU long-name bodies,
 * padding, end-of-archive blocks, bytes buffered past them) go to raw(); an entry's data goes to
 * raw() too unless entryData() claims it, in which case only its size is noted there.
 */
export interface TarRecorder {
  raw(bytes: Buffer): void;
  /** true: the data of this entry (of `size` bytes) is kept elsewhere (extracted to disk). */
  entryData(header: TarHeader, size: number): boolean;
}

/** Longest pax header or GNU long name we accept. Units: bytes. */
const MAX_META_BYTES = 1024 * 1024;

/**
 * The entries of a tar stream, pax and GNU long names applied, metadata entries consumed. Stops at
 * the end-of-archive block and leaves the source open: the caller may go on reading it (to hash
 * the trailing padding) and must close or destroy it.
 */
export async function* readTarEntries(source: AsyncIterable<Buffer | string>, recorder?: TarRecorder): AsyncGenerator<TarEntry> {
  const reader = new ChunkReader(source);
  const raw = (bytes: Buffer): Buffer => {
    if (recorder && bytes.length > 0) recorder.raw(bytes);
    return bytes;
  };
  let pax: Map<string, string> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const block = raw(await reader.read(BLOCK_BYTES));
    if (block.length === 0) return; // no end-of-archive blocks: tolerated
    if (block.length < BLOCK_BYTES) throw badArchive('truncated tar archive');
    const parsed = parseHeaderBlock(block);
    if (parsed === null) {
      raw(reader.takeBuffered());
      return;
    }
    if (parsed.type === 'pax' || parsed.type === 'pax-global' || parsed.type === 'gnu-longname' || parsed.type === 'gnu-longlink') {
      if (parsed.size > MAX_META_BYTES) throw badArchive(`tar metadata entry of ${parsed.size} bytes is too large`);
      const body = raw(await reader.read(paddedSize(parsed.size)));
      if (body.length < paddedSize(parsed.size)) throw badArchive('truncated tar archive');
      const content = body.subarray(0, parsed.size);
      if (parsed.type === 'pax') pax = parsePaxRecords(content);
      else if (parsed.type === 'gnu-longname') longName = text(content, 0, content.length);
      else if (parsed.type === 'gnu-longlink') longLink = text(content, 0, content.length);
      // Global pax headers set defaults we do not need (and may not trust): ignored.
      continue;
    }
    const header = applyOverrides(parsed, pax, longName, longLink);
    pax = longName = longLink = undefined;
    // Links, directories and devices carry no data even when the size field says otherwise.
    const dataBytes = header.type === 'file' || header.type === 'unsupported' ? header.size : 0;
    let remaining = dataBytes;
    // Data kept elsewhere is not recorded; any other data is, as it is read.
    const dataElsewhere = dataBytes > 0 && recorder !== undefined && recorder.entryData(header, dataBytes);
    const dataChunk = (chunk: Buffer): Buffer => (dataElsewhere ? chunk : raw(chunk));
    const body = async function* (): AsyncGenerator<Buffer> {
      while (remaining > 0) {
        const chunk = await reader.readSome(Math.min(remaining, 256 * 1024));
        if (chunk.length === 0) throw badArchive(`truncated tar archive in ${JSON.stringify(header.name)}`);
        remaining -= chunk.length;
        yield dataChunk(chunk);
      }
    };
    yield { header, body };
    while (remaining > 0) {
      const chunk = await reader.readSome(Math.min(remaining, 256 * 1024));
      if (chunk.length === 0) throw badArchive(`truncated tar archive in ${JSON.stringify(header.name)}`);
      remaining -= chunk.length;
      dataChunk(chunk);
    }
    const padding = paddedSize(dataBytes) - dataBytes;
    if (padding > 0 && raw(await reader.read(padding)).length < padding) throw badArchive('truncated tar archive');
  }
}

/* ---- writing ---- */

export interface TarWriteEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'hardlink';
  /** Units: bytes (files only). */
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Units: seconds since the Unix epoch. */
  mtime?: number;
  linkname?: string;
}

const TYPE_FLAGS: Record<TarWriteEntry['type'], string> = { file: '0', directory: '5', symlink: '2', hardlink: '1' };

function writeText(block: Buffer, start: number, length: number, value: string): boolean {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) return false;
  bytes.copy(block, start);
  return true;
}

function writeOctal(block: Buffer, start: number, length: number, value: number): void {
  block.write(value.toString(8).padStart(length - 1, '0') + '\0', start, length, 'latin1');
}

function paxRecord(key: string, value: string): string {
  // The length prefix counts itself: grow it until it is self-consistent.
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length = String(length).length + Buffer.byteLength(body);
  return `${length}${body}`;
}

function ustarBlock(entry: TarWriteEntry, name: string, prefix: string, linkname: string, size: number, typeFlag: string): Buffer {
  const block = Buffer.alloc(BLOCK_BYTES);
  writeText(block, 0, 100, name);
  writeOctal(block, 100, 8, entry.mode ?? (entry.type === 'directory' ? 0o755 : 0o644));
  writeOctal(block, 108, 8, entry.uid ?? 0);
  writeOctal(block, 116, 8, entry.gid ?? 0);
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, entry.mtime ?? 0);
  block.write('        ', 148, 8, 'latin1');
  block.write(typeFlag, 156, 1, 'latin1');
  writeText(block, 157, 100, linkname);
  block.write('ustar\0', 257, 6, 'latin1');
  block.write('00', 263, 2, 'latin1');
  writeText(block, 345, 155, prefix);
  let sum = 0;
  for (let i = 0; i < BLOCK_BYTES; i++) sum += block[i]!;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return block;
}

/** Splits a path into ustar's prefix (≤155 bytes) and name (≤100 bytes), when possible. */
function splitUstarName(path: string): { prefix: string; name: string } | undefined {
  if (Buffer.byteLength(path) <= 100) return { prefix: '', name: path };
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name !== '') return { prefix, name };
  }
  return undefined;
}

/** The header block(s) for one entry: a pax header first when a name or link does not fit ustar. */
export function tarHeader(entry: TarWriteEntry): Buffer {
  const size = entry.type === 'file' ? (entry.size ?? 0) : 0;
  const split = splitUstarName(entry.name);
  const linkname = entry.linkname ?? '';
  const linkFits = Buffer.byteLength(linkname) <= 100;
  const blocks: Buffer[] = [];
  if (!split || !linkFits) {
    let records = '';
    if (!split) records += paxRecord('path', entry.name);
    if (!linkFits) records += paxRecord('linkpath', linkname);
    const body = Buffer.from(records, 'utf8');
    blocks.push(ustarBlock({ name: 'PaxHeader', type: 'file' }, 'PaxHeader', '', '', body.length, 'x'));
    blocks.push(body, Buffer.alloc(paddedSize(body.length) - body.length));
  }
  const names = split ?? { prefix: '', name: entry.name.slice(-100) };
  blocks.push(ustarBlock(entry, names.name, names.prefix, linkFits ? linkname : '', size, TYPE_FLAGS[entry.type]));
  return Buffer.concat(blocks);
}

/** Zero padding after `size` bytes of content. */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc(paddedSize(size) - size);
}

/** The two zero blocks that end an archive. */
export function tarEnd(): Buffer {
  return Buffer.alloc(2 * BLOCK_BYTES);
}

/** A whole archive in memory, for small archives (tests, manifests). */
export function packTar(entries: ReadonlyArray<TarWriteEntry & { content?: Buffer | string }>): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const content = entry.content === undefined ? Buffer.alloc(0) : Buffer.from(entry.content);
    parts.push(tarHeader({ ...entry, size: entry.type === 'file' ? content.length : 0 }));
    if (entry.type === 'file') parts.push(content, tarPadding(content.length));
  }
  parts.push(tarEnd());
  return Buffer.concat(parts);
}
