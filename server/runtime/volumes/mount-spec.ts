/**
 * The mount flags of run/create in docker's grammar and with docker's messages: `-v`/`--volume`,
 * `--mount`, `--tmpfs`, `--volumes-from`. Pure: text in, MountRequest out (or a 400 RuntimeError
 * saying what is wrong); which volume or host directory each names is resolved later (resolve.ts).
 */
import * as path from 'node:path';
import { badRequest } from '../errors';

export type MountType = 'bind' | 'volume' | 'tmpfs';

/** One mount as the user asked for it. */
export interface MountRequest {
  type: MountType;
  /** bind: a host path; volume: a name ("" = a new anonymous volume); tmpfs: "". */
  source: string;
  /** Absolute, cleaned path inside the container. */
  target: string;
  readOnly: boolean;
  /** bind from `-v`: a missing host directory is created (docker's old behaviour, kept for -v). */
  createHostPath: boolean;
  /** volume: skip the copy of the image's content into a new volume (`nocopy`, `volume-nocopy`). */
  noCopy: boolean;
  /** tmpfs: the mount options (size=, mode=, and flags), as the kernel takes them. */
  tmpfsOptions: string[];
  /** docker's Mode field: the -v mode text ("ro", "z", ...) or "" for --mount. */
  mode: string;
}

/** docker's rule for a local volume's name. */
export const VOLUME_NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

const VOLUME_MODES = new Set(['rw', 'ro', 'nocopy', 'z', 'Z', 'private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'consistent', 'delegated', 'cached']);

function invalidSpec(raw: string): Error {
  return badRequest('invalid_mount', `invalid volume specification: '${raw}'`);
}

/** `raw`: the -v text, which docker's message quotes first. */
function checkTarget(target: string, kind: MountType, raw?: string): string {
  const prefix = raw === undefined ? '' : `invalid volume specification: '${raw}': `;
  if (!target.startsWith('/')) {
    throw badRequest('invalid_mount', `${prefix}invalid mount config for type "${kind}": invalid mount path: '${target}' mount path must be absolute`);
  }
  const cleaned = path.posix.normalize(target).replace(/(.)\/+$/, '$1');
  if (cleaned === '/') throw badRequest('invalid_mount', `${prefix}invalid mount config for type "${kind}": invalid specification: destination can't be '/'`);
  return cleaned;
}

function checkVolumeName(name: string): void {
  if (!VOLUME_NAME_PATTERN.test(name)) {
    throw badRequest(
      'invalid_mount',
      `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
}

/** `-v [SOURCE:]TARGET[:MODE]`: SOURCE starting with "/" is a bind, otherwise a volume name. */
export function parseVolumeFlag(raw: string): MountRequest {
  if ((raw.match(/:/g) ?? []).length > 2) throw invalidSpec(raw);
  const parts = raw.split(':');
  if (parts[0] === '') throw invalidSpec(raw);
  let source = '';
  let target: string;
  let mode = '';
  if (parts.length === 1) target = parts[0]!;
  else if (parts.length === 2) [source, target] = parts as [string, string];
  else [source, target, mode] = parts as [string, string, string];
  if (target === '') throw invalidSpec(raw);
  const modes = mode === '' ? [] : mode.split(',');
  for (const item of modes) if (!VOLUME_MODES.has(item)) throw badRequest('invalid_mount', `invalid mode: ${mode}`);
  if (modes.includes('ro') && modes.includes('rw')) throw badRequest('invalid_mount', `invalid mode: ${mode}`);
  const type: MountType = source.startsWith('/') ? 'bind' : 'volume';
  if (type === 'bind' && modes.includes('nocopy')) throw badRequest('invalid_mount', `invalid mode: ${mode}`);
  if (type === 'volume' && source !== '') checkVolumeName(source);
  return {
    type,
    source: type === 'bind' ? path.posix.normalize(source) : source,
    target: checkTarget(target, type, raw),
    readOnly: modes.includes('ro'),
    createHostPath: type === 'bind',
    noCopy: modes.includes('nocopy'),
    tmpfsOptions: [],
    mode,
  };
}

/**
 * `--mount type=bind|volume|tmpfs,source=..,target=..,readonly,...` (docker's CSV fields, with
 * the aliases src, dst/destination, ro; a bare `readonly` means true).
 */
export function parseMountFlag(raw: string): MountRequest {
  let type: MountType = 'volume';
  let source = '';
  let target = '';
  let readOnly = false;
  let noCopy = false;
  const tmpfsOptions: string[] = [];
  const bool = (key: string, value: string | undefined): boolean => {
    if (value === undefined || ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) return true;
    if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) return false;
    throw badRequest('invalid_mount', `invalid value for ${key}: ${value}`);
  };
  for (const field of raw.split(',')) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    const key = (eq === -1 ? field : field.slice(0, eq)).toLowerCase();
    const value = eq === -1 ? undefined : field.slice(eq + 1);
    switch (key) {
      case 'readonly':
      case 'ro':
        readOnly = bool(key, value);
        break;
      case 'volume-nocopy':
        noCopy = bool(key, value);
        break;
      case 'type':
        if (value !== 'bind' && value !== 'volume' && value !== 'tmpfs') throw badRequest('invalid_mount', `invalid mount type: ${JSON.stringify(value ?? '')}`);
        type = value;
        break;
      case 'source':
      case 'src':
        source = value ?? '';
        break;
      case 'target':
      case 'dst':
      case 'destination':
        target = value ?? '';
        break;
      case 'bind-propagation':
        if (value !== 'rprivate' && value !== 'private') throw badRequest('invalid_mount', `bind-propagation ${JSON.stringify(value ?? '')} is not supported: mounts are always private`);
        break;
      case 'tmpfs-size':
        if (value === undefined || !/^\d+[kmgKMG]?$/.test(value)) throw badRequest('invalid_mount', `invalid value for tmpfs-size: ${value ?? ''}`);
        tmpfsOptions.push(`size=${value.toLowerCase()}`);
        break;
      case 'tmpfs-mode':
        if (value === undefined || !/^[0-7]{1,4}$/.test(value)) throw badRequest('invalid_mount', `invalid value for tmpfs-mode: ${value ?? ''}`);
        tmpfsOptions.push(`mode=${value}`);
        break;
      default:
        if (value === undefined) throw badRequest('invalid_mount', `invalid field '${field}' must be a key=value pair`);
        throw badRequest('invalid_mount', `unexpected key '${key}' in '${field}'`);
    }
  }
  if (target === '') throw badRequest('invalid_mount', 'invalid mount config: must specify a target');
  if (type === 'bind') {
    if (source === '') throw badRequest('invalid_mount', `invalid mount config for type "bind": field Source must not be empty`);
    if (!source.startsWith('/')) throw badRequest('invalid_mount', `invalid mount config for type "bind": invalid mount path: '${source}' mount path must be absolute`);
    if (noCopy) throw badRequest('invalid_mount', `invalid mount config for type "bind": field VolumeOptions must not be specified`);
  }
  if (type === 'tmpfs' && source !== '') throw badRequest('invalid_mount', `invalid mount config for type "tmpfs": field Source must not be specified`);
  if (type === 'volume' && source !== '') checkVolumeName(source);
  return {
    type,
    source: type === 'bind' ? path.posix.normalize(source) : source,
    target: checkTarget(target, type),
    readOnly,
    createHostPath: false,
    noCopy,
    tmpfsOptions: type === 'tmpfs' ? tmpfsOptions : [],
    mode: '',
  };
}

const TMPFS_FLAGS = new Set(['ro', 'rw', 'exec', 'noexec', 'suid', 'nosuid', 'dev', 'nodev', 'sync', 'async', 'atime', 'noatime', 'relatime', 'strictatime', 'diratime', 'nodiratime']);

/** `--tmpfs PATH[:OPTIONS]`: OPTIONS as mount(8) takes them (size=64m,mode=1777,noexec,...). */
export function parseTmpfsFlag(raw: string): MountRequest {
  const colon = raw.indexOf(':');
  const target = colon === -1 ? raw : raw.slice(0, colon);
  const options = colon === -1 || raw.slice(colon + 1) === '' ? [] : raw.slice(colon + 1).split(',');
  for (const option of options) {
    const key = option.split('=', 1)[0]!;
    const known = TMPFS_FLAGS.has(option) || ((key === 'size' || key === 'mode' || key === 'uid' || key === 'gid' || key === 'nr_inodes') && option.includes('='));
    if (!known || /[\s\\]/.test(option)) throw badRequest('invalid_mount', `invalid tmpfs option ["${option}"]`);
  }
  return {
    type: 'tmpfs',
    source: '',
    target: checkTarget(target, 'tmpfs'),
    readOnly: options.includes('ro'),
    createHostPath: false,
    noCopy: false,
    tmpfsOptions: options.filter((option) => option !== 'ro' && option !== 'rw'),
    mode: '',
  };
}

/** `--volumes-from CONTAINER[:ro|rw]`. */
export function parseVolumesFrom(raw: string): { container: string; mode: '' | 'ro' | 'rw' } {
  const colon = raw.lastIndexOf(':');
  const container = colon === -1 ? raw : raw.slice(0, colon);
  const mode = colon === -1 ? '' : raw.slice(colon + 1);
  if (container === '') throw badRequest('invalid_mount', `invalid volumes-from specification: '${raw}'`);
  if (mode !== '' && mode !== 'ro' && mode !== 'rw') throw badRequest('invalid_mount', `invalid mode: ${mode}`);
  return { container, mode };
}

/** Every mount of a create request, checked together: two mounts on one target are refused as docker does. */
export function parseMountFlags(flags: { volumes: readonly string[]; mounts: readonly string[]; tmpfs: readonly string[] }): MountRequest[] {
  const requests = [...flags.volumes.map(parseVolumeFlag), ...flags.mounts.map(parseMountFlag), ...flags.tmpfs.map(parseTmpfsFlag)];
  const seen = new Set<string>();
  for (const request of requests) {
    if (seen.has(request.target)) throw badRequest('invalid_mount', `Duplicate mount point: ${request.target}`);
    seen.add(request.target);
  }
  return requests;
}
