/**
 * The body of POST /api/v1/containers, checked field by field with docker's rules and messages.
 * Pure: JSON in, a validated CreateOptions out, or a 400 RuntimeError that says what is wrong.
 * Nothing here touches the filesystem; image lookup and name uniqueness come later.
 */
import * as net from 'node:net';
import { LimitError } from '../limits/errors';
import { parseRestartPolicyText } from '../limits/restart-policy';
import { parseNanoCpus, parseRamInBytes } from '../limits/units';
import { badRequest, quoteInput, quoteReference, RuntimeError } from './errors';
import { validateContainerName } from './names';
import { CAPABILITY_NAMES, checkCapabilities, effectiveCapAddCapDrop } from './security/capabilities';
import { checkSecurityOptions } from './security/options';
import { GROUP_NAME_OR_ID } from './user';
import type { ContainerLimits, PortBinding, RestartPolicy } from './types';
import { parseMountFlags, parseVolumesFrom, type MountRequest } from './volumes/mount-spec';

/** Linux HOST_NAME_MAX. Units: characters. */
const MAX_HOSTNAME_LENGTH = 64;
/** One argument or environment entry. Units: bytes (UTF-16 code units, close enough). */
const MAX_STRING_LENGTH = 128 * 1024;

/** What a client sends to create a container (all optional but a command from somewhere). */
export interface CreateRequest {
  name?: string;
  /** Image reference; absent or "" runs on the host's filesystem. */
  image?: string;
  cmd?: string[];
  /** Replaces the image's entrypoint when given ([] clears it). */
  entrypoint?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  hostname?: string;
  tty?: boolean;
  openStdin?: boolean;
  /** "1.5", or a number of CPUs. */
  cpus?: string | number;
  /** "64m", or a number of bytes. */
  memory?: string | number;
  /** "-1", "128m", or a number of bytes. */
  memorySwap?: string | number;
  pidsLimit?: string | number;
  /** docker -p syntax: "8080:80", "127.0.0.1:8080:80/tcp", "80". */
  publish?: string[];
  /** "no", "always", "unless-stopped", "on-failure[:N]". */
  restart?: string;
  autoRemove?: boolean;
  labels?: Record<string, string>;
  /** The client's terminal size, for a tty. */
  consoleSize?: { rows: number; cols: number };
  /** docker --security-opt: "seccomp=unconfined", "seccomp=<profile JSON>", "no-new-privileges". */
  securityOpt?: string[];
  /** docker --cap-add / --cap-drop: "SYS_ADMIN", "cap_net_admin", "ALL". */
  capAdd?: string[];
  capDrop?: string[];
  /** docker --group-add: group names (from the image's /etc/group) or gids. */
  groupAdd?: string[];
  /** docker -v: "HOST:CTR[:ro|rw]", "NAME:CTR[:ro]", "/ctr". */
  volumes?: string[];
  /** docker --mount: "type=bind|volume|tmpfs,source=..,target=..,readonly". */
  mounts?: string[];
  /** docker --tmpfs: "/path[:options]". */
  tmpfs?: string[];
  /** docker --volumes-from: "CONTAINER[:ro|rw]". */
  volumesFrom?: string[];
}

export interface CreateOptions {
  /** Validated; undefined = generate one. */
  name?: string;
  image: string;
  /** undefined = the image's. */
  cmd?: string[];
  entrypoint?: string[];
  env: string[];
  workingDir?: string;
  user?: string;
  hostname?: string;
  tty: boolean;
  openStdin: boolean;
  limits: ContainerLimits;
  /** Whether the memory+swap limit was given (else docker's default of twice the memory applies). */
  memorySwapGiven: boolean;
  portBindings: PortBinding[];
  restartPolicy: RestartPolicy;
  autoRemove: boolean;
  labels: Record<string, string>;
  consoleSize?: { rows: number; cols: number };
  securityOpt: string[];
  /** Normalized (CAP_SYS_ADMIN, ALL) and sorted, as Docker's CLI sends them. */
  capAdd: string[];
  capDrop: string[];
  groupAdd: string[];
  /** -v, --mount and --tmpfs, parsed (resolved against volumes and the host at create). */
  mounts: MountRequest[];
  volumesFrom: Array<{ container: string; mode: '' | 'ro' | 'rw' }>;
}

const FIELDS = new Set<string>([
  'name', 'image', 'cmd', 'entrypoint', 'env', 'workingDir', 'user', 'hostname', 'tty', 'openStdin', 'cpus', 'memory',
  'memorySwap', 'pidsLimit', 'publish', 'restart', 'autoRemove', 'labels', 'consoleSize', 'securityOpt', 'capAdd', 'capDrop',
  'groupAdd',
  'volumes', 'mounts', 'tmpfs', 'volumesFrom',
]);

/**
 * Checks a create request's fields and parses its flag values. The limits' own rules (docker's
 * 6 MB minimum, the CPU range, memory+swap) are the live-limits module's: runtime/limits.ts
 * validateContainerLimits.
 */
export function parseCreateRequest(body: unknown): CreateOptions {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('invalid_body', 'the request body must be a JSON object');
  const request = body as Record<string, unknown>;
  for (const key of Object.keys(request)) {
    if (!FIELDS.has(key)) throw badRequest('invalid_body', `unknown field ${quoteInput(key, 40)} in the request body`);
  }
  const options: CreateOptions = {
    image: optionalString(request, 'image') ?? '',
    env: stringArray(request, 'env') ?? [],
    tty: optionalBoolean(request, 'tty') ?? false,
    openStdin: optionalBoolean(request, 'openStdin') ?? false,
    limits: { nanoCpus: 0, memoryBytes: 0, memorySwapBytes: 0, pidsLimit: null },
    memorySwapGiven: false,
    portBindings: parsePublish(stringArray(request, 'publish') ?? []),
    restartPolicy: parseRestartPolicy(optionalString(request, 'restart') || 'no'),
    autoRemove: optionalBoolean(request, 'autoRemove') ?? false,
    labels: parseLabels(request['labels']),
    securityOpt: checkSecurityOptions(stringArray(request, 'securityOpt') ?? []),
    ...effectiveCapAddCapDrop(stringArray(request, 'capAdd') ?? [], stringArray(request, 'capDrop') ?? []),
    groupAdd: stringArray(request, 'groupAdd') ?? [],
    mounts: parseMountFlags({ volumes: stringArray(request, 'volumes') ?? [], mounts: stringArray(request, 'mounts') ?? [], tmpfs: stringArray(request, 'tmpfs') ?? [] }),
    volumesFrom: (stringArray(request, 'volumesFrom') ?? []).map(parseVolumesFrom),
  };
  for (const group of options.groupAdd) {
    if (!GROUP_NAME_OR_ID.test(group)) throw badRequest('invalid_group', `invalid group ${quoteInput(group)} in groupAdd: use a group name or a gid`);
  }
  // Names are checked here; whether this kernel has them is checked when the set is built (create-record.ts).
  checkCapabilities([...options.capAdd, ...options.capDrop], CAPABILITY_NAMES.length - 1);
  if (request['name'] !== undefined && request['name'] !== '') options.name = validateContainerName(request['name']);
  validateImageReference(options.image);
  const cmd = stringArray(request, 'cmd');
  if (cmd !== undefined) options.cmd = cmd;
  const entrypoint = stringArray(request, 'entrypoint');
  if (entrypoint !== undefined) options.entrypoint = entrypoint;
  for (const entry of options.env) validateEnvEntry(entry);

  const workingDir = optionalString(request, 'workingDir');
  if (workingDir !== undefined && workingDir !== '') {
    if (!workingDir.startsWith('/')) throw badRequest('invalid_working_dir', `the working directory ${quoteInput(workingDir)} is invalid, it needs to be an absolute path`);
    options.workingDir = workingDir;
  }
  const user = optionalString(request, 'user');
  if (user !== undefined && user !== '') {
    if (!/^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63}(:[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63})?$/.test(user)) {
      throw badRequest('invalid_user', `invalid user ${quoteInput(user)}: use name, uid, name:group or uid:gid`);
    }
    options.user = user;
  }
  const hostname = optionalString(request, 'hostname');
  if (hostname !== undefined && hostname !== '') {
    if (hostname.length > MAX_HOSTNAME_LENGTH || !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(hostname)) {
      throw badRequest('invalid_hostname', `invalid hostname ${quoteInput(hostname)}: use letters, digits, "-" and ".", at most ${MAX_HOSTNAME_LENGTH} characters`);
    }
    options.hostname = hostname;
  }

  parseLimits(request, options);

  if (options.autoRemove && options.restartPolicy.name !== 'no') {
    throw badRequest('conflicting_options', 'Conflicting options: --restart and --rm');
  }
  const consoleSize = request['consoleSize'];
  if (consoleSize !== undefined) {
    const size = consoleSize as { rows?: unknown; cols?: unknown };
    if (typeof consoleSize !== 'object' || consoleSize === null || !isDimension(size.rows) || !isDimension(size.cols)) {
      throw badRequest('invalid_console_size', 'consoleSize must be {"rows": 1-65535, "cols": 1-65535}');
    }
    options.consoleSize = { rows: size.rows as number, cols: size.cols as number };
  }
  return options;
}

function isDimension(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}

function optionalString(request: Record<string, unknown>, key: string): string | undefined {
  const value = request[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw badRequest('invalid_body', `${key} must be a string`);
  if (value.includes('\0')) throw badRequest('invalid_body', `${key} must not contain NUL characters`);
  if (value.length > MAX_STRING_LENGTH) throw badRequest('invalid_body', `${key} is too long`);
  return value;
}

function optionalBoolean(request: Record<string, unknown>, key: string): boolean | undefined {
  const value = request[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw badRequest('invalid_body', `${key} must be true or false`);
  return value;
}

function stringArray(request: Record<string, unknown>, key: string): string[] | undefined {
  const value = request[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw badRequest('invalid_body', `${key} must be an array of strings`);
  for (const item of value as string[]) {
    // execve stops at a NUL: an argument containing one would silently become another command.
    if (item.includes('\0')) throw badRequest('invalid_body', `${key} must not contain NUL characters`);
    if (item.length > MAX_STRING_LENGTH) throw badRequest('invalid_body', `an entry of ${key} is too long`);
  }
  return value as string[];
}

/** "busybox", "busybox:1.36", "registry:5000/x/y:tag", "sha256:<hex>", or an id prefix. */
function validateImageReference(image: string): void {
  if (image === '') return;
  if (image.length > 255 || !/^[A-Za-z0-9][A-Za-z0-9._\-/:@]*$/.test(image) || image.includes('..')) {
    throw badRequest('invalid_reference', `invalid reference format: ${quoteInput(image)}`);
  }
}

function validateEnvEntry(entry: string): void {
  const key = entry.split('=', 1)[0]!;
  if (key === '') throw badRequest('invalid_env', `invalid environment variable: ${quoteInput(entry)}`);
}

function parseLabels(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw badRequest('invalid_body', 'labels must be an object of strings');
  const labels: Record<string, string> = {};
  for (const [key, text] of Object.entries(value as Record<string, unknown>)) {
    if (typeof text !== 'string' || key.includes('\0') || text.includes('\0')) throw badRequest('invalid_body', 'labels must be an object of strings');
    labels[key] = text;
  }
  return labels;
}

/** A flag value that may arrive as a JSON number or as the text the user typed. */
function flagText(value: unknown, flag: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'string' && !value.includes('\0') && value.length <= 64) return value.trim();
  throw badRequest('invalid_argument', `invalid argument for "${flag}" flag: expected a number or a size`);
}

function parseLimits(request: Record<string, unknown>, options: CreateOptions): void {
  const cpus = flagText(request['cpus'], '--cpus');
  if (cpus !== undefined) {
    try {
      // 0 means "no limit", as in docker; a negative value is refused by the range rule later.
      options.limits.nanoCpus = parseNanoCpus(cpus);
    } catch (error) {
      throw badRequest('invalid_argument', `invalid argument "${cpus}" for "--cpus" flag: ${(error as Error).message}`);
    }
  }
  const memory = flagText(request['memory'], '--memory');
  if (memory !== undefined) options.limits.memoryBytes = parseSize(memory, '--memory');
  const swap = flagText(request['memorySwap'], '--memory-swap');
  if (swap !== undefined) {
    const bytes = swap === '-1' ? -1 : parseSize(swap, '--memory-swap');
    if (bytes !== 0) {
      options.limits.memorySwapBytes = bytes;
      options.memorySwapGiven = true;
    }
  }
  const pids = flagText(request['pidsLimit'], '--pids-limit');
  if (pids !== undefined) {
    if (!/^-?\d+$/.test(pids) || !Number.isSafeInteger(Number(pids))) {
      throw badRequest('invalid_argument', `invalid argument "${pids}" for "--pids-limit" flag: strconv.ParseInt: parsing ${JSON.stringify(pids)}: invalid syntax`);
    }
    const value = Number(pids);
    // docker: 0 and negative values mean unlimited.
    options.limits.pidsLimit = value > 0 ? value : null;
  }
}

function parseSize(text: string, flag: string): number {
  try {
    return parseRamInBytes(text);
  } catch (error) {
    throw badRequest('invalid_argument', `invalid argument "${text}" for "${flag}" flag: ${(error as Error).message}`);
  }
}

/** Each `-p` value; duplicates of one host address and port are refused. */
export function parsePublish(values: readonly string[]): PortBinding[] {
  const bindings = values.map(parsePortBinding);
  const seen = new Set<string>();
  for (const binding of bindings) {
    if (binding.hostPort === 0) continue;
    const key = `${binding.hostIp}|${binding.hostPort}`;
    if (seen.has(key)) throw badRequest('invalid_publish', `host port ${binding.hostIp}:${binding.hostPort} is published twice`);
    seen.add(key);
  }
  return bindings;
}

/**
 * `[HOSTIP:][HOSTPORT:]CONTAINERPORT[/tcp]`; IPv6 host addresses in brackets ("[::1]:8080:80").
 * A missing host address means 127.0.0.1 (capstan publishes on loopback unless told otherwise);
 * a missing host port means any free one, as with docker.
 */
export function parsePortBinding(text: string): PortBinding {
  const bad = (why: string): RuntimeError => badRequest('invalid_publish', `invalid publish ${quoteInput(text)}: ${why}`);
  let rest = text.trim();
  let protocol = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash !== -1) {
    protocol = rest.slice(slash + 1).toLowerCase();
    rest = rest.slice(0, slash);
  }
  if (protocol !== 'tcp') throw bad(`only tcp ports can be published (got ${quoteInput(protocol, 10)})`);

  let hostIp = '';
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close === -1 || rest[close + 1] !== ':') throw bad('an IPv6 address must be written [ADDRESS]:PORT:PORT');
    hostIp = rest.slice(1, close);
    rest = rest.slice(close + 2);
    if (net.isIPv6(hostIp) === false) throw bad(`${quoteInput(hostIp)} is not an IPv6 address`);
  }
  const parts = rest.split(':');
  let hostPortText = '';
  let containerPortText: string;
  if (hostIp !== '') {
    if (parts.length !== 2) throw bad('expected [ADDRESS]:HOSTPORT:CONTAINERPORT');
    [hostPortText, containerPortText] = parts as [string, string];
  } else if (parts.length === 1) {
    containerPortText = parts[0]!;
  } else if (parts.length === 2) {
    [hostPortText, containerPortText] = parts as [string, string];
  } else if (parts.length === 3) {
    [hostIp, hostPortText, containerPortText] = parts as [string, string, string];
    if (!net.isIPv4(hostIp)) throw bad(`${quoteInput(hostIp)} is not an IPv4 address (write IPv6 addresses in brackets)`);
  } else {
    throw bad('expected [HOSTIP:][HOSTPORT:]CONTAINERPORT[/tcp]');
  }
  if (/-/.test(hostPortText) || /-/.test(containerPortText)) throw bad('port ranges are not supported');
  const containerPort = portNumber(containerPortText, 'containerPort', false, bad);
  const hostPort = hostPortText === '' ? 0 : portNumber(hostPortText, 'hostPort', true, bad);
  return { hostIp: hostIp || '127.0.0.1', hostPort, containerPort, protocol: 'tcp' };
}

/** A port of -p; what is not a 16-bit number is refused in docker's words (nat.ParsePortSpec). */
function portNumber(text: string, role: 'containerPort' | 'hostPort', zeroAllowed: boolean, bad: (why: string) => RuntimeError): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw badRequest('invalid_publish', `Invalid ${role}: ${quoteReference(text.slice(0, 12))}`);
  const port = Number(text);
  if (port === 0 && !zeroAllowed) throw bad(`invalid port ${port}: ports are 1 to 65535`);
  return port;
}

/** `--restart`: no | always | unless-stopped | on-failure[:N], with docker's messages (shared with `update`). */
export function parseRestartPolicy(text: string): RestartPolicy {
  try {
    return parseRestartPolicyText(text);
  } catch (error) {
    if (error instanceof LimitError) throw badRequest(error.code, error.message);
    throw error;
  }
}
