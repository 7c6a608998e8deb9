/**
 * Reads a container's overlay upper directory into the listing changes.ts computes `diff` from:
 * each entry's lstat, the same path's stat in the lower layers, and (through
 * `capstan-shim overlay-opaques`, as Node cannot read xattrs) which directories are opaque.
 * Works on a running container: an entry that vanishes during the walk is left out. What an opaque
 * directory hides of the layers below is added as deletions (changes.ts withOpaqueDeletions).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { withOpaqueDeletions, type DirectoryStat, type UpperEntry } from './changes';
import { runShimWithLines, shimExecutable } from './markers';

/**
 * Paths the runtime makes in the upper layer for its own mounts when the image lacks them. docker
 * keeps the same ones in a layer of their own (the container's "-init" layer), so its diff never
 * shows them; here they count as present below.
 */
export const RUNTIME_MOUNT_TARGETS: ReadonlySet<string> = new Set([
  '/dev', '/proc', '/sys', '/etc', '/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/etc/mtab', '/.dockerenv',
]);

/** What the lower layers hold in `directory` (whiteouts left out): what an opaque directory there hides. */
async function lowerNames(lowerDirsTopFirst: readonly string[], directory: string): Promise<string[]> {
  const names = new Set<string>();
  for (const layer of lowerDirsTopFirst) {
    let listed: fs.Dirent[];
    try {
      listed = await fs.promises.readdir(path.join(layer, directory), { withFileTypes: true });
    } catch (error) {
      if (isVanished(error)) continue;
      throw error;
    }
    for (const entry of listed) {
      if (entry.isCharacterDevice()) {
        const stat = await fs.promises.lstat(path.join(layer, directory, entry.name), { bigint: true }).catch(() => undefined);
        if (stat?.rdev === 0n) continue;
      }
      names.add(entry.name);
    }
  }
  return [...names];
}

function isVanished(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function summary(stat: fs.BigIntStats): DirectoryStat {
  return { mode: Number(stat.mode), size: Number(stat.size), mtimeNs: stat.mtimeNs, uid: Number(stat.uid), gid: Number(stat.gid), rdev: Number(stat.rdev) };
}

/** The path in the topmost lower layer that has it, stat'ed through symlinks as docker does. */
async function lowerStat(lowerDirsTopFirst: readonly string[], entryPath: string): Promise<UpperEntry['lower']> {
  for (const layer of lowerDirsTopFirst) {
    try {
      const stat = await fs.promises.stat(path.join(layer, entryPath), { bigint: true });
      return { ...summary(stat), isDirectory: stat.isDirectory() };
    } catch (error) {
      if (!isVanished(error) && (error as NodeJS.ErrnoException).code !== 'ELOOP') throw error;
    }
  }
  return undefined;
}

/** Runs `capstan-shim overlay-opaques`: which of `directories` (relative to `upperDir`) are opaque. */
export async function opaqueDirectories(upperDir: string, directories: readonly string[], shim = shimExecutable()): Promise<Set<string>> {
  // One path per line: a name with a newline cannot be asked about (and is not opaque for diff's purpose).
  const asked = directories.filter((directory) => !directory.includes('\n'));
  if (asked.length === 0) return new Set();
  const output = await runShimWithLines(shim, ['overlay-opaques', upperDir], asked, 'read', `overlay markers in ${upperDir}`);
  return new Set(output.split('\n').filter((line) => line !== ''));
}

/**
 * The upper layer in walk order (names sorted bytewise, as Go's filepath.Walk sorts them), each
 * with what changes.ts needs. The runtime's own mount targets are left out when no lower layer has
 * them (see RUNTIME_MOUNT_TARGETS), unless `keepRuntimeTargets` (export shows them, as docker's
 * export shows its init layer).
 */
export async function listUpperLayer(
  upperDir: string,
  lowerDirsTopFirst: readonly string[],
  options: { shim?: string; keepRuntimeTargets?: boolean } = {},
): Promise<UpperEntry[]> {
  const entries: UpperEntry[] = [];
  const walk = async (directory: string): Promise<void> => {
    let names: string[];
    try {
      names = await fs.promises.readdir(path.join(upperDir, directory));
    } catch (error) {
      if (isVanished(error)) return;
      throw error;
    }
    names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const name of names) {
      const entryPath = `${directory === '/' ? '' : directory}/${name}`;
      let stat: fs.BigIntStats;
      try {
        stat = await fs.promises.lstat(path.join(upperDir, entryPath), { bigint: true });
      } catch (error) {
        if (isVanished(error)) continue;
        throw error;
      }
      const type: UpperEntry['type'] = stat.isDirectory()
        ? 'directory'
        : stat.isCharacterDevice() && stat.rdev === 0n
          ? 'whiteout'
          : stat.isFile()
            ? 'file'
            : stat.isSymbolicLink()
              ? 'symlink'
              : 'other';
      const lower = await lowerStat(lowerDirsTopFirst, entryPath);
      const runtimeOwned = !options.keepRuntimeTargets && !lower && RUNTIME_MOUNT_TARGETS.has(entryPath);
      if (!runtimeOwned) entries.push({ path: entryPath, type, stat: summary(stat), ...(lower && { lower }) });
      if (type === 'directory') await walk(entryPath);
    }
  };
  await walk('/');
  const directories = entries.filter((entry) => entry.type === 'directory');
  const opaque = await opaqueDirectories(upperDir, directories.map((entry) => entry.path.slice(1)), options.shim);
  const hidden = new Map<string, string[]>();
  for (const entry of directories) {
    entry.opaque = opaque.has(entry.path.slice(1));
    if (entry.opaque && lowerDirsTopFirst.length > 0) hidden.set(entry.path, await lowerNames(lowerDirsTopFirst, entry.path));
  }
  return withOpaqueDeletions(entries, hidden);
}
