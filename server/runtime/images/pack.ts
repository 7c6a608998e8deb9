/**
 * Packs a directory (an OCI image layout) into a tar stream whose length is known up front, so the
 * CLI can upload a directory like a file, with Content-Length and a progress bar. Symlinks are
 * stored as symlinks, never followed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { tarEnd, tarHeader, tarPadding, type TarWriteEntry } from './tar';

interface PlannedEntry {
  entry: TarWriteEntry;
  /** The file to copy content from (regular files). */
  source?: string;
}

export interface PackedDirectory {
  /** Length of the whole stream. Units: bytes. */
  totalBytes: number;
  stream: Readable;
}

export function packDirectoryStream(root: string): PackedDirectory {
  const planned: PlannedEntry[] = [];
  const visit = (relative: string): void => {
    const absolute = path.join(root, relative);
    const stat = fs.lstatSync(absolute);
    const common = { mode: stat.mode & 0o7777, mtime: Math.floor(stat.mtimeMs / 1000) };
    if (stat.isDirectory()) {
      if (relative !== '') planned.push({ entry: { name: `${relative}/`, type: 'directory', ...common } });
      for (const name of fs.readdirSync(absolute).sort()) visit(relative === '' ? name : `${relative}/${name}`);
    } else if (stat.isSymbolicLink()) {
      planned.push({ entry: { name: relative, type: 'symlink', linkname: fs.readlinkSync(absolute), ...common } });
    } else if (stat.isFile()) {
      planned.push({ entry: { name: relative, type: 'file', size: stat.size, ...common }, source: absolute });
    }
    // Sockets, devices and FIFOs have no place in an image layout: left out.
  };
  visit('');
  const headers = planned.map(({ entry }) => tarHeader(entry));
  const totalBytes =
    headers.reduce((sum, header) => sum + header.length, 0) +
    planned.reduce((sum, { entry }) => sum + (entry.type === 'file' ? (entry.size ?? 0) + tarPadding(entry.size ?? 0).length : 0), 0) +
    tarEnd().length;

  async function* generate(): AsyncGenerator<Buffer> {
    for (const [index, { entry, source }] of planned.entries()) {
      yield headers[index]!;
      if (!source) continue;
      let written = 0;
      for await (const chunk of fs.createReadStream(source, { highWaterMark: 256 * 1024 })) {
        const buffer = chunk as Buffer;
        written += buffer.length;
        if (written > (entry.size ?? 0)) throw new Error(`${source} grew while it was being packed`);
        yield buffer;
      }
      if (written !== entry.size) throw new Error(`${source} shrank while it was being packed`);
      yield tarPadding(written);
    }
    yield tarEnd();
  }

  return { totalBytes, stream: Readable.from(generate()) };
}
