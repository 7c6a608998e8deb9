/**
 * Volumes of the local driver, laid out as docker's /var/lib/docker/volumes:
 *
 *   <stateDir>/volumes/<name>/volume.json   VolumeRecord (written atomically)
 *   <stateDir>/volumes/<name>/_data         the volume's content, what containers mount
 *
 * Names are checked against docker's pattern before they become paths. Which containers use a
 * volume is the runtime's knowledge, not the store's: removal takes the users as an argument.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { badRequest, RuntimeError } from '../errors';
import { nowRfc3339 } from '../runtime-state';
import { readdirOrEmpty, readJsonFile, writeFileAtomic } from '../store';
import { VOLUME_NAME_PATTERN } from './mount-spec';

export const VOLUME_DATA_DIRECTORY = '_data';
const VOLUME_RECORD_FILE = 'volume.json';

/** A volume as `volume inspect` shows it (docker's keys). */
export interface VolumeRecord {
  /** RFC 3339, UTC. */
  CreatedAt: string;
  Driver: 'local';
  Labels: Record<string, string>;
  Mountpoint: string;
  Name: string;
  Options: Record<string, string>;
  Scope: 'local';
  /** capstan's: made for one container's `-v /path` (removed by `rm -v` and `--rm`). */
  Anonymous?: boolean;
}

export function noSuchVolume(name: string): RuntimeError {
  return new RuntimeError(404, 'no_such_volume', `No such volume: ${name}`);
}

export class VolumeStore {
  readonly root: string;

  constructor(stateDir: string) {
    this.root = path.join(stateDir, 'volumes');
  }

  private directory(name: string): string {
    if (!VOLUME_NAME_PATTERN.test(name)) throw badRequest('invalid_volume_name', `"${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`);
    return path.join(this.root, name);
  }

  /** docker volume create: an existing volume of that name is returned as it is. */
  create(name: string | undefined, options: { labels?: Record<string, string>; driver?: string; anonymous?: boolean } = {}): VolumeRecord {
    if (options.driver !== undefined && options.driver !== '' && options.driver !== 'local') {
      throw new RuntimeError(404, 'no_such_driver', `error looking up volume plugin ${options.driver}: plugin "${options.driver}" not found`);
    }
    const volumeName = name === undefined || name === '' ? crypto.randomBytes(32).toString('hex') : name;
    const directory = this.directory(volumeName);
    const existing = this.find(volumeName);
    if (existing) return existing;
    fs.mkdirSync(this.root, { recursive: true, mode: 0o701 });
    // The record is the volume: written last, so a crash before it leaves only an empty folder.
    fs.mkdirSync(path.join(directory, VOLUME_DATA_DIRECTORY), { recursive: true, mode: 0o755 });
    const record: VolumeRecord = {
      CreatedAt: nowRfc3339().replace(/\.\d+Z$/, 'Z'),
      Driver: 'local',
      Labels: options.labels ?? {},
      Mountpoint: path.join(directory, VOLUME_DATA_DIRECTORY),
      Name: volumeName,
      Options: {},
      Scope: 'local',
      ...(options.anonymous ? { Anonymous: true } : {}),
    };
    writeFileAtomic(path.join(directory, VOLUME_RECORD_FILE), JSON.stringify(record, null, 2) + '\n', 0o600);
    return record;
  }

  find(name: string): VolumeRecord | undefined {
    if (!VOLUME_NAME_PATTERN.test(name)) return undefined;
    return readJsonFile<VolumeRecord>(path.join(this.root, name, VOLUME_RECORD_FILE));
  }

  get(name: string): VolumeRecord {
    const record = this.find(name);
    if (!record) throw noSuchVolume(name);
    return record;
  }

  list(): VolumeRecord[] {
    return readdirOrEmpty(this.root).flatMap((name) => this.find(name) ?? []).sort((a, b) => a.Name.localeCompare(b.Name));
  }

  /** Removes a volume no container uses; `usedBy` lists the ids of those that do (docker's 409). */
  async remove(name: string, usedBy: readonly string[]): Promise<void> {
    this.get(name);
    if (usedBy.length > 0) throw new RuntimeError(409, 'volume_in_use', `remove ${name}: volume is in use - [${usedBy.join(', ')}]`);
    const directory = this.directory(name);
    // The record goes first: a crash half-way leaves no volume that looks whole.
    await fs.promises.rm(path.join(directory, VOLUME_RECORD_FILE), { force: true });
    await fs.promises.rm(directory, { recursive: true, force: true });
  }
}

/** Takes back a volume a failed create just made (nobody uses it yet): synchronously, so nothing is left half-made. */
export function discardNewVolume(store: VolumeStore, name: string): void {
  if (!VOLUME_NAME_PATTERN.test(name)) return;
  fs.rmSync(path.join(store.root, name), { recursive: true, force: true });
}

/** Bytes under a folder (files' sizes, no following of symlinks). Units: bytes. */
export async function directoryBytes(directory: string): Promise<number> {
  let total = 0;
  const entries = await fs.promises.readdir(directory, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) total += await directoryBytes(full);
    else if (entry.isFile()) total += (await fs.promises.lstat(full).catch(() => ({ size: 0 }))).size;
  }
  return total;
}
