/**
 * Random access into an image archive: an uncompressed tar file indexed once (each entry's data
 * offset), or an OCI layout directory. The format readers (formats.ts) ask for files by name; only
 * the layers are streamed, straight from their place in the archive, never copied out first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { badArchive } from './errors';
import { applyOverrides, BLOCK_BYTES, paddedSize, parseHeaderBlock, parsePaxRecords, type TarEntryType } from './tar';

export interface ArchiveEntry {
  /** Normalized: no leading "./" or "/", no trailing "/". */
  name: string;
  type: TarEntryType;
  /** Where the content starts in the file. Units: bytes. */
  offset: number;
  /** Units: bytes. */
  size: number;
  linkname: string;
}

/** What the format readers read from: a tar file or a directory. */
export interface ArchiveSource {
  /** Human description for messages. */
  readonly description: string;
  has(name: string): boolean;
  /** Entry names at the top level or below (normalized). */
  names(): string[];
  /** Size of a member. Units: bytes. */
  size(name: string): number;
  readText(name: string, maxBytes?: number): Promise<string>;
  open(name: string): Readable;
  close(): Promise<void>;
}

/** "./a//b/" → "a/b". Pure; does not judge safety (the extractor does). */
export function normalizeArchiveName(name: string): string {
  return name
    .split('/')
    .filter((part) => part !== '' && part !== '.')
    .join('/');
}

/** Largest JSON document (manifest, index, config) read into memory. Units: bytes. */
const MAX_JSON_BYTES = 16 * 1024 * 1024;

/** Reads every header of an uncompressed tar file; content is skipped by offset. `onEntry` may refuse one by throwing. */
export async function indexTarFile(file: string, onEntry: () => void = () => {}): Promise<ArchiveEntry[]> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const { size: fileBytes } = await handle.stat();
    const entries: ArchiveEntry[] = [];
    const block = Buffer.alloc(BLOCK_BYTES);
    let offset = 0;
    let pax: Map<string, string> | undefined;
    let longName: string | undefined;
    let longLink: string | undefined;
    while (offset + BLOCK_BYTES <= fileBytes) {
      const { bytesRead } = await handle.read(block, 0, BLOCK_BYTES, offset);
      if (bytesRead < BLOCK_BYTES) throw badArchive('truncated tar archive');
      const raw = parseHeaderBlock(block);
      if (raw === null) break;
      offset += BLOCK_BYTES;
      if (offset + raw.size > fileBytes && raw.type !== 'directory' && raw.type !== 'symlink' && raw.type !== 'hardlink') {
        throw badArchive(`truncated tar archive in ${JSON.stringify(raw.name)}`);
      }
      if (raw.type === 'pax' || raw.type === 'gnu-longname' || raw.type === 'gnu-longlink' || raw.type === 'pax-global') {
        if (raw.size > 1024 * 1024) throw badArchive('tar metadata entry too large');
        const body = Buffer.alloc(raw.size);
        await handle.read(body, 0, raw.size, offset);
        if (raw.type === 'pax') pax = parsePaxRecords(body);
        else if (raw.type === 'gnu-longname') longName = body.toString('utf8').replace(/\0.*$/s, '');
        else if (raw.type === 'gnu-longlink') longLink = body.toString('utf8').replace(/\0.*$/s, '');
        offset += paddedSize(raw.size);
        continue;
      }
      const header = applyOverrides(raw, pax, longName, longLink);
      pax = longName = longLink = undefined;
      onEntry();
      const dataBytes = header.type === 'file' || header.type === 'unsupported' ? header.size : 0;
      entries.push({ name: normalizeArchiveName(header.name), type: header.type, offset, size: dataBytes, linkname: header.linkname });
      offset += paddedSize(dataBytes);
    }
    return entries;
  } finally {
    await handle.close();
  }
}

/** A tar file with its index. Symlinks between members (docker save links duplicate layers) are followed. */
export class TarArchive implements ArchiveSource {
  private readonly byName = new Map<string, ArchiveEntry>();

  private constructor(
    private readonly file: string,
    entries: ArchiveEntry[],
  ) {
    for (const entry of entries) this.byName.set(entry.name, entry);
  }

  static async open(file: string, onEntry?: () => void): Promise<TarArchive> {
    return new TarArchive(file, await indexTarFile(file, onEntry));
  }

  get description(): string {
    return path.basename(this.file);
  }

  private resolve(name: string): ArchiveEntry | undefined {
    let current = normalizeArchiveName(name);
    for (let hops = 0; hops < 16; hops++) {
      const entry = this.byName.get(current);
      if (!entry) return undefined;
      if (entry.type === 'file') return entry;
      if (entry.type === 'symlink') {
        current = entry.linkname.startsWith('/')
          ? normalizeArchiveName(entry.linkname)
          : normalizeArchiveName(path.posix.normalize(path.posix.join(path.posix.dirname(current), entry.linkname)));
        if (current.startsWith('..')) return undefined;
        continue;
      }
      if (entry.type === 'hardlink') {
        current = normalizeArchiveName(entry.linkname);
        continue;
      }
      return undefined;
    }
    return undefined;
  }

  private member(name: string): ArchiveEntry {
    const entry = this.resolve(name);
    if (!entry) throw badArchive(`${this.description}: no file ${JSON.stringify(name)} in the archive`);
    return entry;
  }

  has(name: string): boolean {
    return this.resolve(name) !== undefined;
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  size(name: string): number {
    return this.member(name).size;
  }

  async readText(name: string, maxBytes = MAX_JSON_BYTES): Promise<string> {
    const entry = this.member(name);
    if (entry.size > maxBytes) throw badArchive(`${this.description}: ${name} is larger than ${maxBytes} bytes`);
    const handle = await fs.promises.open(this.file, 'r');
    try {
      const buffer = Buffer.alloc(entry.size);
      await handle.read(buffer, 0, entry.size, entry.offset);
      return buffer.toString('utf8');
    } finally {
      await handle.close();
    }
  }

  open(name: string): Readable {
    const entry = this.member(name);
    if (entry.size === 0) return fs.createReadStream('/dev/null');
    return fs.createReadStream(this.file, { start: entry.offset, end: entry.offset + entry.size - 1, highWaterMark: 256 * 1024 });
  }

  async close(): Promise<void> {}
}

/** An OCI image layout directory. Member names are resolved inside it, never outside. */
export class DirectoryArchive implements ArchiveSource {
  constructor(private readonly root: string) {}

  get description(): string {
    return this.root;
  }

  private pathOf(name: string): string {
    const normalized = normalizeArchiveName(name);
    if (normalized.split('/').includes('..')) throw badArchive(`${this.root}: refusing member ${JSON.stringify(name)}`);
    return path.join(this.root, normalized);
  }

  has(name: string): boolean {
    try {
      return fs.statSync(this.pathOf(name)).isFile();
    } catch {
      return false;
    }
  }

  names(): string[] {
    return fs.readdirSync(this.root);
  }

  size(name: string): number {
    return fs.statSync(this.pathOf(name)).size;
  }

  async readText(name: string, maxBytes = MAX_JSON_BYTES): Promise<string> {
    if (this.size(name) > maxBytes) throw badArchive(`${this.root}: ${name} is larger than ${maxBytes} bytes`);
    return fs.promises.readFile(this.pathOf(name), 'utf8');
  }

  open(name: string): Readable {
    return fs.createReadStream(this.pathOf(name), { highWaterMark: 256 * 1024 });
  }

  async close(): Promise<void> {}
}
