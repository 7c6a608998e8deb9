/**
 * `diff`: a container's changes against its image, computed from a listing of its overlay upper
 * directory, the way docker's overlay2 driver computes them (moby pkg/archive, "changes"):
 *
 * - the listing is in walk order (each directory's names sorted bytewise, parent before children);
 * - an overlayfs whiteout (character device 0/0) is a deletion (D) of its path;
 * - an opaque directory (trusted.overlay.opaque=y: removed and made again) is reported by docker as a
 *   deletion of the directory, and what it holds now is walked as usual;
 * - any other entry is a change (C) when the path exists in a lower layer, else an addition (A);
 *   a directory present in both with the same mode, size and modification time is not a change;
 * - the parent of an addition or a deletion is shown as changed (C) once, unless it is "/" or was
 *   already listed (docker's rule: a copied-up parent can look unchanged).
 *
 * Pure: the I/O (lstat of the upper entries, stat of the same paths in the lower layers, the
 * opaque xattr) is in upper-listing.ts.
 */

/** What docker's API calls Kind: 0 modified, 1 added, 2 deleted. */
export const CHANGE_KIND = { modified: 0, added: 1, deleted: 2 } as const;
export type ChangeKind = (typeof CHANGE_KIND)[keyof typeof CHANGE_KIND];

/** One line of `docker diff` ({"Path","Kind"} in the API). */
export interface Change {
  /** Absolute inside the container: "/etc/passwd". */
  Path: string;
  Kind: ChangeKind;
}

/** What is compared of a directory present in the upper layer and in a lower one. */
export interface DirectoryStat {
  /** st_mode, type and permission bits. */
  mode: number;
  /** Units: bytes (st_size). */
  size: number;
  /** Units: nanoseconds since the epoch (st_mtim). */
  mtimeNs: bigint;
}

export interface UpperEntry {
  /** Absolute inside the container, "/" separated, never "/" itself. */
  path: string;
  /** 'other': a device, FIFO or socket (diff lists it; a layer leaves it out). */
  type: 'directory' | 'whiteout' | 'file' | 'symlink' | 'other';
  /** Directories only: trusted.overlay.opaque is "y". */
  opaque?: boolean;
  stat: DirectoryStat & { uid?: number; gid?: number };
  /** The same path in the topmost lower layer that has it (following symlinks, as docker's os.Stat); absent when none has it. */
  lower?: DirectoryStat & { isDirectory: boolean };
}

/**
 * docker's sameFsTime: equal, or equal to the second when one side has no nanoseconds (a
 * filesystem or a tar that keeps whole seconds).
 */
function sameTime(a: bigint, b: bigint): boolean {
  if (a === b) return true;
  const second = 1_000_000_000n;
  return a / second === b / second && (a % second === 0n || b % second === 0n);
}

function parentOf(entryPath: string): string {
  const slash = entryPath.lastIndexOf('/');
  return slash <= 0 ? '/' : entryPath.slice(0, slash);
}

/** The changes, in docker's order, from the upper layer's listing in walk order. */
export function computeChanges(entries: readonly UpperEntry[]): Change[] {
  const changes: Change[] = [];
  const changedDirectories = new Set<string>();
  for (const entry of entries) {
    let kind: ChangeKind;
    if (entry.type === 'whiteout' || (entry.type === 'directory' && entry.opaque === true)) {
      kind = CHANGE_KIND.deleted;
    } else if (!entry.lower) {
      kind = CHANGE_KIND.added;
    } else {
      const { lower, stat } = entry;
      if (entry.type === 'directory' && lower.isDirectory && stat.size === lower.size && stat.mode === lower.mode && sameTime(stat.mtimeNs, lower.mtimeNs)) {
        // Only there because something below it changed: not listed, and not marked as listed.
        continue;
      }
      kind = CHANGE_KIND.modified;
    }
    if (entry.type === 'directory') changedDirectories.add(entry.path);
    if (kind !== CHANGE_KIND.modified) {
      const parent = parentOf(entry.path);
      if (parent !== '/' && !changedDirectories.has(parent)) {
        changes.push({ Path: parent, Kind: CHANGE_KIND.modified });
        changedDirectories.add(parent);
      }
    }
    changes.push({ Path: entry.path, Kind: kind });
  }
  return changes;
}

const KIND_LETTER: Record<ChangeKind, string> = { 0: 'C', 1: 'A', 2: 'D' };

/** `docker diff`'s output: "C /etc", "A /etc/new", one per line. */
export function formatChanges(changes: readonly Change[]): string {
  return changes.map((change) => `${KIND_LETTER[change.Kind] ?? '?'} ${change.Path}\n`).join('');
}
