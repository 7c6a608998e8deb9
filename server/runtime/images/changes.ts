/**
 * `diff`: a container's changes against its image, computed from a listing of its overlay upper
 * directory, with the result docker 20.10 gives (its overlay2 driver compares the container's
 * tree with the image's when the kernel has overlayfs redirect_dir, as here: moby pkg/archive
 * ChangesDirs; measured against the real dockerd in test/integration/commit.test.ts):
 *
 * - an overlayfs whiteout (character device 0/0) is a deletion (D) of its path;
 * - an entry no lower layer has is an addition (A);
 * - an entry a lower layer has is a change (C) when its mode, owner or device differ, or (not for
 *   directories, whose size and time say nothing) its size or modification time;
 * - an opaque directory (trusted.overlay.opaque=y: removed and made again) is compared like any
 *   directory, and what the layers below held in it and it no longer has is deleted (D)
 *   (withOpaqueDeletions adds those entries);
 * - every directory above a change is shown as changed (C) once, before it, unless it is "/" or
 *   listed already.
 * Lines come in walk order (names sorted bytewise): docker's own order follows Go's map order, so
 * it varies from run to run; the set of lines is the same.
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

/** What is compared of an entry present in the upper layer and in a lower one. */
export interface DirectoryStat {
  /** st_mode, type and permission bits. */
  mode: number;
  /** Units: bytes (st_size). */
  size: number;
  /** Units: nanoseconds since the epoch (st_mtim). */
  mtimeNs: bigint;
  uid?: number;
  gid?: number;
  /** Device number (st_rdev) of a device node. */
  rdev?: number;
}

export interface UpperEntry {
  /** Absolute inside the container, "/" separated, never "/" itself. */
  path: string;
  /** 'other': a device, FIFO or socket (diff lists it; a layer leaves it out). */
  type: 'directory' | 'whiteout' | 'file' | 'symlink' | 'other';
  /** Directories only: trusted.overlay.opaque is "y". */
  opaque?: boolean;
  /** Not in the upper directory: what an opaque directory hides of the layers below (withOpaqueDeletions). */
  hiddenByOpaque?: boolean;
  stat: DirectoryStat;
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

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;

/** docker's statDifferent: mode, owner, device; size and time only for what is not a directory. */
function differs(upper: DirectoryStat, lower: DirectoryStat): boolean {
  if (upper.mode !== lower.mode || (upper.uid ?? 0) !== (lower.uid ?? 0) || (upper.gid ?? 0) !== (lower.gid ?? 0) || (upper.rdev ?? 0) !== (lower.rdev ?? 0)) return true;
  if ((upper.mode & S_IFMT) === S_IFDIR) return false;
  return upper.size !== lower.size || !sameTime(upper.mtimeNs, lower.mtimeNs);
}

/** The changes, in walk order, from the upper layer's listing in walk order. */
export function computeChanges(entries: readonly UpperEntry[]): Change[] {
  const changes: Change[] = [];
  /** Directories listed already (changed or added): not listed again as a parent. */
  const listed = new Set<string>();
  for (const entry of entries) {
    let kind: ChangeKind;
    if (entry.type === 'whiteout') kind = CHANGE_KIND.deleted;
    else if (!entry.lower) kind = CHANGE_KIND.added;
    else if (differs(entry.stat, entry.lower)) kind = CHANGE_KIND.modified;
    else continue; // copied up for what changed below it, or unchanged
    // Every directory above the change, outermost first.
    for (let slash = entry.path.indexOf('/', 1); slash > 0; slash = entry.path.indexOf('/', slash + 1)) {
      const ancestor = entry.path.slice(0, slash);
      if (listed.has(ancestor)) continue;
      changes.push({ Path: ancestor, Kind: CHANGE_KIND.modified });
      listed.add(ancestor);
    }
    if (entry.type === 'directory') listed.add(entry.path);
    changes.push({ Path: entry.path, Kind: kind });
  }
  return changes;
}

function bytewise(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * The listing with, for each opaque directory, a deletion entry (a whiteout marked hiddenByOpaque)
 * for every name `hiddenNames` gives for it that the directory no longer holds, placed among its
 * children in walk order. `hiddenNames`: directory path → the names the layers below hold in it.
 */
export function withOpaqueDeletions(entries: readonly UpperEntry[], hiddenNames: ReadonlyMap<string, readonly string[]>): UpperEntry[] {
  const result: UpperEntry[] = [];
  /** Per open opaque directory (innermost last): its path and its hidden names still to place, sorted. */
  const open: Array<{ directory: string; pending: string[]; template: UpperEntry }> = [];
  const flush = (upTo?: { directory: string; name: string }): void => {
    // Close the directories the next entry is not inside, placing what they still have pending.
    while (open.length > 0) {
      const top = open.at(-1)!;
      const inside = upTo !== undefined && (upTo.directory === top.directory || upTo.directory.startsWith(`${top.directory}/`));
      if (inside) break;
      for (const name of top.pending) result.push(deletion(top, name));
      open.pop();
    }
    if (upTo === undefined) return;
    const top = open.at(-1);
    if (top && top.directory === upTo.directory) {
      while (top.pending.length > 0 && bytewise(top.pending[0]!, upTo.name) < 0) result.push(deletion(top, top.pending.shift()!));
      top.pending = top.pending.filter((name) => name !== upTo.name);
    }
  };
  const deletion = (owner: { directory: string; template: UpperEntry }, name: string): UpperEntry => ({
    path: `${owner.directory}/${name}`,
    type: 'whiteout',
    hiddenByOpaque: true,
    stat: { mode: 0o020000, size: 0, mtimeNs: owner.template.stat.mtimeNs },
  });
  for (const entry of entries) {
    const slash = entry.path.lastIndexOf('/');
    flush({ directory: slash === 0 ? '/' : entry.path.slice(0, slash), name: entry.path.slice(slash + 1) });
    result.push(entry);
    if (entry.type === 'directory' && entry.opaque) {
      const names = [...(hiddenNames.get(entry.path) ?? [])].sort(bytewise);
      open.push({ directory: entry.path, pending: names, template: entry });
    }
  }
  flush();
  return result;
}

const KIND_LETTER: Record<ChangeKind, string> = { 0: 'C', 1: 'A', 2: 'D' };

/** `docker diff`'s output: "C /etc", "A /etc/new", one per line. */
export function formatChanges(changes: readonly Change[]): string {
  return changes.map((change) => `${KIND_LETTER[change.Kind] ?? '?'} ${change.Path}\n`).join('');
}
