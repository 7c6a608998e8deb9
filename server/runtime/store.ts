/**
 * The on-disk state of capstan's containers: one folder per container under
 * `<stateDir>/containers/<64-hex id>/`, holding spec.json (the ContainerRecord, written by the agent)
 * and the shim's files (see shim-protocol.ts). Every file the agent writes is replaced atomically
 * (write, fsync, rename), so a crash leaves the old or the new version, never half of one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isContainerId } from './names';
import { CONTAINER_FILES, type ExitRecord, type InitRecord } from './shim-protocol';
import type { ContainerRecord } from './types';

export const RECORD_FILE = 'spec.json';

export { writeFileAtomic, writeFileAtomicAsync } from '../storage/atomic-file';
import { writeFileAtomic, writeFileAtomicAsync } from '../storage/atomic-file';

/**
 * Atomic against a crash of the agent (rename), but not synced: for files a reader consumes at
 * once and that are rewritten each time they matter (the shim's config.json at every start).
 */
export function writeFileReplace(file: string, data: string, mode = 0o600): void {
  const temporary = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(temporary, data, { mode });
  fs.renameSync(temporary, file);
}

/** A JSON file the shim or the agent wrote; undefined when absent or not (yet) valid. */
export function readJsonFile<T>(file: string): T | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

/** The names in a folder; none when the folder is not there (yet). */
export function readdirOrEmpty(directory: string): string[] {
  try {
    return fs.readdirSync(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

export class ContainerStore {
  readonly root: string;

  constructor(stateDir: string) {
    this.root = path.join(stateDir, 'containers');
  }

  ensureRoot(): void {
    fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
  }

  /** The folder of container `id`; the id is checked so no user text ever becomes a path. */
  directory(id: string): string {
    if (!isContainerId(id)) throw new TypeError(`not a container id: ${JSON.stringify(id).slice(0, 80)}`);
    return path.join(this.root, id);
  }

  file(id: string, name: string): string {
    return path.join(this.directory(id), name);
  }

  /** Creates the folder; EEXIST if it is there already (ids are random: that is a bug or an attack). */
  createDirectory(id: string): string {
    const directory = this.directory(id);
    fs.mkdirSync(directory, { mode: 0o700 });
    return directory;
  }

  writeRecord(record: ContainerRecord): void {
    writeFileAtomic(this.file(record.id, RECORD_FILE), JSON.stringify(record, null, 2) + '\n');
  }

  /** writeRecord on libuv's pool; `text` is the record serialized at the moment of the change. */
  writeRecordText(id: string, text: string): Promise<void> {
    return writeFileAtomicAsync(this.file(id, RECORD_FILE), text);
  }

  readRecord(id: string): ContainerRecord | undefined {
    const record = readJsonFile<ContainerRecord>(this.file(id, RECORD_FILE));
    return record && record.version === 1 && record.id === id ? record : undefined;
  }

  readInit(id: string): InitRecord | undefined {
    const record = readJsonFile<InitRecord>(this.file(id, CONTAINER_FILES.init));
    return record && Number.isInteger(record.pid) && record.pid > 0 ? record : undefined;
  }

  readExit(id: string): ExitRecord | undefined {
    const record = readJsonFile<ExitRecord>(this.file(id, CONTAINER_FILES.exit));
    return record && Number.isInteger(record.exitCode) ? record : undefined;
  }

  /** Ids of every container folder (anything else in the folder is ignored). */
  list(): string[] {
    return readdirOrEmpty(this.root).filter(isContainerId).sort();
  }

  /**
   * Deletes the folder. Refuses while anything is mounted below it: removing files through a
   * mount would delete them in the mounted filesystem, not in the folder. The folder is renamed
   * out of the way first (one syscall: the container is no longer listed at once), then deleted on
   * libuv's pool, so a large writable layer never holds up the agent's other requests.
   */
  async removeDirectory(id: string, mountinfo: string = readMountinfo()): Promise<void> {
    const directory = this.directory(id);
    const mounted = mountPointsBelow(mountinfo, directory);
    if (mounted.length > 0) {
      const error = new Error(`cannot remove ${directory}: ${mounted[0]} is still mounted`) as NodeJS.ErrnoException;
      error.code = 'EBUSY';
      error.path = mounted[0];
      throw error;
    }
    const doomed = path.join(this.root, `${REMOVING_PREFIX}${id}`);
    try {
      fs.renameSync(directory, doomed);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    await fs.promises.rm(doomed, { recursive: true, force: true });
  }

  /** Finishes removals an agent was stopped in the middle of (see removeDirectory). */
  async removeAbandoned(): Promise<void> {
    let names: string[];
    try {
      names = fs.readdirSync(this.root);
    } catch {
      return;
    }
    for (const name of names) {
      if (name.startsWith(REMOVING_PREFIX)) await fs.promises.rm(path.join(this.root, name), { recursive: true, force: true });
    }
  }
}

/** A container folder being deleted is renamed to this plus its id (never a container id itself). */
const REMOVING_PREFIX = '.removing-';

export function readMountinfo(): string {
  try {
    return fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return '';
  }
}

/** Mount points at or below `directory` in mountinfo text (field 5, octal escapes undone). */
export function mountPointsBelow(mountinfo: string, directory: string): string[] {
  const prefix = directory.endsWith('/') ? directory : `${directory}/`;
  const found: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const mountPoint = line.split(' ')[4];
    if (mountPoint === undefined) continue;
    const decoded = mountPoint.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
    if (decoded === directory || decoded.startsWith(prefix)) found.push(decoded);
  }
  return found;
}
