/**
 * Which cgroup hierarchies the host has and where they are mounted. Two pure functions
 * (parseMountinfo, layoutFromMounts) and two that read: detectLayout for a real host,
 * layoutFromRoot for `--cgroup-root` (fixture trees in tests, a copied /sys/fs/cgroup).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { V1_CONTROLLERS, type CgroupLayout, type CgroupMode, type V1Controller } from '../model';
import { V1_STAT_CONTROLLERS } from './hierarchy';

/** The v1 controllers the collector reads stats from; if any is on v1, stats come from v1. */
const KNOWN_V1_CONTROLLERS: ReadonlySet<string> = new Set(V1_CONTROLLERS);

/** No usable cgroup hierarchy was found. `code` is 'ENOCGROUP'; `path` is where we looked. */
export class CgroupLayoutError extends Error {
  override name = 'CgroupLayoutError';
  readonly code: string;
  readonly path: string;

  constructor(message: string, code: string, where: string) {
    super(message);
    this.code = code;
    this.path = where;
  }
}

export interface CgroupMounts {
  /** v1 controller → mount point. A co-mounted "cpu,cpuacct" hierarchy appears under both names. */
  v1Mounts: Partial<Record<V1Controller, string>>;
  /** Mount point of the unified (cgroup2) hierarchy, if mounted. */
  v2Mount?: string;
}

/** Undoes mountinfo's octal escapes: space, tab, newline and backslash appear as \040 \011 \012 \134. */
function unescapeMountPath(text: string): string {
  if (!text.includes('\\')) return text;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const octal = text.slice(i + 1, i + 4);
    if (text[i] === '\\' && octal.length === 3 && /^[0-7]{3}$/.test(octal)) {
      out += String.fromCharCode(parseInt(octal, 8));
      i += 3;
    } else {
      out += text[i];
    }
  }
  return out;
}

/**
 * Finds the cgroup mounts in /proc/<pid>/mountinfo text. Format (proc(5)):
 * `ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER-OPTIONS`.
 * For fstype "cgroup" the controllers are among the super options ("rw,cpu,cpuacct");
 * "name=systemd" and options like "xattr" or "noprefix" are not controllers. When a hierarchy is
 * mounted more than once, a mount of the hierarchy's own root ("/") wins over bind mounts of a
 * subdirectory, and otherwise the first one listed.
 */
export function parseMountinfo(text: string): CgroupMounts {
  const v1Mounts: Partial<Record<V1Controller, string>> = {};
  const v1IsRootMount: Partial<Record<V1Controller, boolean>> = {};
  let v2Mount: string | undefined;
  let v2IsRootMount = false;

  for (const line of text.split('\n')) {
    if (!line.includes(' cgroup')) continue;
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    if (separator === -1 || fields.length < separator + 4) continue;
    const fsType = fields[separator + 1];
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const isRootMount = fields[3] === '/';
    const mountPoint = unescapeMountPath(fields[4]!);

    if (fsType === 'cgroup2') {
      if (v2Mount === undefined || (isRootMount && !v2IsRootMount)) {
        v2Mount = mountPoint;
        v2IsRootMount = isRootMount;
      }
      continue;
    }
    for (const option of fields[separator + 3]!.split(',')) {
      if (!KNOWN_V1_CONTROLLERS.has(option)) continue;
      const controller = option as V1Controller;
      if (v1Mounts[controller] === undefined || (isRootMount && !v1IsRootMount[controller])) {
        v1Mounts[controller] = mountPoint;
        v1IsRootMount[controller] = isRootMount;
      }
    }
  }
  return v2Mount === undefined ? { v1Mounts } : { v1Mounts, v2Mount };
}

/**
 * Classifies the mounts:
 * - mode: 'hybrid' when v1 controllers and a v2 hierarchy are both mounted, else 'v1' or 'v2';
 * - controllersOn: 1 when any controller capstan reads (cpu, cpuacct, memory, pids, blkio) is
 *   on v1, because a controller mounted on v1 is unavailable on v2; else 2. A host with neither
 *   those nor a v2 mount stays at 1 (there is nothing else to read).
 * Throws CgroupLayoutError (ENOCGROUP) when no controller hierarchy and no v2 is mounted.
 */
export function layoutFromMounts(mounts: CgroupMounts, v2Controllers: string[]): CgroupLayout {
  const v1Mounts = { ...mounts.v1Mounts };
  const hasV1 = Object.keys(v1Mounts).length > 0;
  const v2Mount = mounts.v2Mount;
  if (!hasV1 && v2Mount === undefined) {
    throw new CgroupLayoutError('no cgroup filesystem is mounted', 'ENOCGROUP', '');
  }
  const mode: CgroupMode = hasV1 ? (v2Mount !== undefined ? 'hybrid' : 'v1') : 'v2';
  const statsOnV1 = V1_STAT_CONTROLLERS.some((controller) => v1Mounts[controller] !== undefined);
  const layout: CgroupLayout = {
    mode,
    controllersOn: statsOnV1 || v2Mount === undefined ? 1 : 2,
    v1Mounts,
    v2Controllers: v2Mount !== undefined ? [...v2Controllers] : [],
  };
  if (v2Mount !== undefined) layout.v2Mount = v2Mount;
  return layout;
}

/** The words of a cgroup.controllers file ("cpuset cpu io memory pids\n"). */
export function parseControllersList(text: string): string[] {
  return text.split(/\s+/).filter((word) => word.length > 0);
}

/** Reads the host's hierarchy from `<procRoot>/self/mountinfo` and the v2 root's cgroup.controllers. */
export function detectLayout(procRoot = '/proc'): CgroupLayout {
  const mountinfoPath = path.join(procRoot, 'self', 'mountinfo');
  const mounts = parseMountinfo(fs.readFileSync(mountinfoPath, 'utf8'));
  if (Object.keys(mounts.v1Mounts).length === 0 && mounts.v2Mount === undefined) {
    throw new CgroupLayoutError(`no cgroup filesystem is mounted (looked in ${mountinfoPath})`, 'ENOCGROUP', mountinfoPath);
  }
  const v2Controllers = mounts.v2Mount !== undefined ? parseControllersList(fs.readFileSync(path.join(mounts.v2Mount, 'cgroup.controllers'), 'utf8')) : [];
  return layoutFromMounts(mounts, v2Controllers);
}

function isDirectory(target: string): boolean {
  try {
    return fs.statSync(target).isDirectory();
  } catch {
    return false;
  }
}

function readControllersIfV2Root(directory: string): string[] | undefined {
  try {
    return parseControllersList(fs.readFileSync(path.join(directory, 'cgroup.controllers'), 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * The layout of a directory laid out like /sys/fs/cgroup (`--cgroup-root`):
 * - `<root>/cgroup.controllers` exists → a v2 hierarchy rooted at `root`;
 * - else subdirectories named after controllers (`cpu`, `cpuacct`, `cpu,cpuacct`, `memory`, ...)
 *   are v1 hierarchies, and `<root>/unified` with a cgroup.controllers makes it hybrid.
 * Real directories win over symlinks (distributions link `cpu` → `cpu,cpuacct`; either works,
 * but the answer should not depend on readdir order).
 */
export function layoutFromRoot(root: string): CgroupLayout {
  const absoluteRoot = path.resolve(root);
  const rootControllers = readControllersIfV2Root(absoluteRoot);
  if (rootControllers) return layoutFromMounts({ v1Mounts: {}, v2Mount: absoluteRoot }, rootControllers);

  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(absoluteRoot, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'ENOCGROUP';
    throw new CgroupLayoutError(`cannot read cgroup root ${absoluteRoot}: ${code}`, code, absoluteRoot);
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const v1Mounts: Partial<Record<V1Controller, string>> = {};
  for (const pass of ['directories', 'symlinks'] as const) {
    for (const entry of entries) {
      const wanted = pass === 'directories' ? entry.isDirectory() : entry.isSymbolicLink();
      const directory = path.join(absoluteRoot, entry.name);
      if (!wanted || (pass === 'symlinks' && !isDirectory(directory))) continue;
      for (const name of entry.name.split(',')) {
        if (KNOWN_V1_CONTROLLERS.has(name) && v1Mounts[name as V1Controller] === undefined) {
          v1Mounts[name as V1Controller] = directory;
        }
      }
    }
  }

  const unified = path.join(absoluteRoot, 'unified');
  const unifiedControllers = isDirectory(unified) ? readControllersIfV2Root(unified) : undefined;
  if (Object.keys(v1Mounts).length === 0 && !unifiedControllers) {
    throw new CgroupLayoutError(
      `no cgroup hierarchy found under ${absoluteRoot} (expected cgroup.controllers, or controller directories such as cpu and memory)`,
      'ENOCGROUP',
      absoluteRoot,
    );
  }
  return layoutFromMounts(unifiedControllers ? { v1Mounts, v2Mount: unified } : { v1Mounts }, unifiedControllers ?? []);
}
