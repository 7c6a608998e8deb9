/**
 * `commit`: a container's overlay upper directory as an image layer tar, in the layer format
 * (docker's and OCI's): an overlayfs whiteout (0/0 character device) becomes an empty `.wh.NAME`
 * file, an opaque directory its entry plus an empty `DIR/.wh..wh..opq`. Devices, FIFOs and sockets
 * are left out (the store refuses them in a layer anyway). Hard links are stored as separate files.
 *
 * layerEntries is pure (listing → tar entries); writeUpperLayer streams them to a file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { UpperEntry } from './changes';
import { tarEnd, tarHeader, tarPadding, type TarWriteEntry } from './tar';
import { listUpperLayer } from './upper-listing';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

export interface PlannedLayerEntry {
  entry: TarWriteEntry;
  /** Regular files: the path inside the upper directory to copy from ("/etc/passwd"). */
  source?: string;
}

/** The tar entries of a layer, in the listing's (walk) order. */
export function layerEntries(entries: readonly UpperEntry[]): PlannedLayerEntry[] {
  const planned: PlannedLayerEntry[] = [];
  for (const item of entries) {
    // The opaque marker already hides them.
    if (item.hiddenByOpaque) continue;
    const name = item.path.slice(1);
    const common = {
      mode: item.stat.mode & 0o7777,
      uid: item.stat.uid ?? 0,
      gid: item.stat.gid ?? 0,
      mtime: Number(item.stat.mtimeNs / 1_000_000_000n),
    };
    switch (item.type) {
      case 'directory':
        planned.push({ entry: { name: `${name}/`, type: 'directory', ...common } });
        if (item.opaque) planned.push({ entry: { name: `${name}/${OPAQUE_MARKER}`, type: 'file', size: 0, mode: 0o644, mtime: common.mtime } });
        break;
      case 'whiteout': {
        const slash = name.lastIndexOf('/');
        const marker = slash < 0 ? `${WHITEOUT_PREFIX}${name}` : `${name.slice(0, slash)}/${WHITEOUT_PREFIX}${name.slice(slash + 1)}`;
        planned.push({ entry: { name: marker, type: 'file', size: 0, mode: 0o644, mtime: common.mtime } });
        break;
      }
      case 'file':
        planned.push({ entry: { name, type: 'file', size: item.stat.size, ...common }, source: item.path });
        break;
      case 'symlink':
        // The target is read when the tar is written (the listing does not carry it).
        planned.push({ entry: { name, type: 'symlink', ...common }, source: item.path });
        break;
      case 'other':
        break;
    }
  }
  return planned;
}

/** One tar entry and the layer directory its content comes from. */
export interface RootedEntry {
  planned: PlannedLayerEntry;
  /** The layer directory `planned.source` is inside. */
  root: string;
}

/**
 * The tar of `items`, streamed: headers, file contents (a file that changes size while it is read
 * fails the stream: the caller freezes a running container first), the end blocks.
 */
export async function* tarOfEntries(items: Iterable<RootedEntry>): AsyncGenerator<Buffer> {
  for (const { planned, root } of items) {
    const { entry, source } = planned;
    const absolute = source !== undefined ? path.join(root, source) : undefined;
    if (entry.type === 'symlink') {
      yield tarHeader({ ...entry, linkname: await fs.promises.readlink(absolute!) });
      continue;
    }
    yield tarHeader(entry);
    if (entry.type !== 'file' || absolute === undefined) continue;
    let written = 0;
    for await (const chunk of fs.createReadStream(absolute, { highWaterMark: 256 * 1024 })) {
      const buffer = chunk as Buffer;
      written += buffer.length;
      if (written > (entry.size ?? 0)) throw new Error(`${absolute} grew while it was being read into a tar`);
      yield buffer;
    }
    if (written !== entry.size) throw new Error(`${absolute} shrank while it was being read into a tar`);
    yield tarPadding(written);
  }
  yield tarEnd();
}

/**
 * Writes the layer tar of `upperDir` (over `lowerDirsTopFirst`) to `file`. Resolves with the
 * number of entries (0: nothing changed, the tar holds only its end blocks).
 */
export async function writeUpperLayer(upperDir: string, lowerDirsTopFirst: readonly string[], file: string): Promise<{ entries: number }> {
  const planned = layerEntries(await listUpperLayer(upperDir, lowerDirsTopFirst));
  await pipeline(Readable.from(tarOfEntries(planned.map((item) => ({ planned: item, root: upperDir })))), fs.createWriteStream(file, { mode: 0o600 }));
  return { entries: planned.length };
}
