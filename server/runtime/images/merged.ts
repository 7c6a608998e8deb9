/**
 * `export`: a container's root filesystem as one tar, its layers merged as overlayfs merges them:
 * the topmost layer that has a path gives it; a whiteout there hides it; a directory's entries are
 * the union of the layers that have it as a directory, down to the first layer where it is opaque
 * (that one included) or not a directory (excluded). No whiteout or opaque marker is in the tar.
 *
 * mergeLayers is pure (listings → the visible entries); exportRootfs reads the layers.
 */
import type { UpperEntry } from './changes';
import { layerEntries, tarOfEntries, type RootedEntry } from './upper-layer';
import { listUpperLayer } from './upper-listing';

export interface VisibleEntry {
  entry: UpperEntry;
  /** Index of the layer it comes from, 0 the topmost. */
  layer: number;
}

function bytewise(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** The merged view of `layersTopFirst` (each a listing as listUpperLayer reads it), in walk order. */
export function mergeLayers(layersTopFirst: ReadonlyArray<readonly UpperEntry[]>): VisibleEntry[] {
  const byPath = layersTopFirst.map((listing) => new Map(listing.map((entry) => [entry.path, entry])));
  const childNames = new Map<string, Set<string>>();
  for (const listing of layersTopFirst) {
    for (const entry of listing) {
      const slash = entry.path.lastIndexOf('/');
      const parent = slash === 0 ? '/' : entry.path.slice(0, slash);
      let names = childNames.get(parent);
      if (!names) childNames.set(parent, (names = new Set()));
      names.add(entry.path.slice(slash + 1));
    }
  }
  const visible: VisibleEntry[] = [];
  /** Lists `directory`, to which the layers from `first` (inclusive) to `end` (exclusive) contribute. */
  const visit = (directory: string, first: number, end: number): void => {
    for (const name of [...(childNames.get(directory) ?? [])].sort(bytewise)) {
      const entryPath = directory === '/' ? `/${name}` : `${directory}/${name}`;
      let top = first;
      while (top < end && !byPath[top]!.has(entryPath)) top++;
      if (top === end) continue;
      const entry = byPath[top]!.get(entryPath)!;
      if (entry.type === 'whiteout') continue;
      visible.push({ entry, layer: top });
      if (entry.type !== 'directory') continue;
      let stop = entry.opaque ? top + 1 : end;
      for (let below = top + 1; below < stop; below++) {
        const lower = byPath[below]!.get(entryPath);
        if (!lower) continue;
        if (lower.type !== 'directory') {
          stop = below;
        } else if (lower.opaque) {
          stop = below + 1;
        }
      }
      visit(entryPath, top, stop);
    }
  };
  visit('/', 0, layersTopFirst.length);
  return visible;
}

/** The merged root filesystem of `layerDirsTopFirst` (the container's upper layer first) as a tar stream. */
export async function* exportRootfs(layerDirsTopFirst: readonly string[]): AsyncGenerator<Buffer> {
  const listings = await Promise.all(layerDirsTopFirst.map((directory) => listUpperLayer(directory, [], { keepRuntimeTargets: true })));
  const items: RootedEntry[] = [];
  for (const { entry, layer } of mergeLayers(listings)) {
    // Merged: the markers have done their work and are not part of the filesystem.
    for (const planned of layerEntries([{ ...entry, opaque: false }])) items.push({ planned, root: layerDirsTopFirst[layer]! });
  }
  yield* tarOfEntries(items);
}
