/**
 * The body of `PATCH /api/v1/containers/:ref/limits`, parsed into a LimitRequest with Docker's
 * meanings. Every field accepts a string exactly as typed after the `docker update` flag (the CLI
 * sends them untouched), and the numeric ones also a JSON number. As in Docker's API, 0 (or "")
 * means "leave unchanged", except for `pidsLimit` (≤ 0 = unlimited) and device rates (0 = remove
 * the throttle). A malformed value is a 400 naming the flag; nothing is parsed partially.
 */
import { LimitError, invalidArgument } from './errors';
import { parseRestartPolicyValue, type RestartPolicySetting } from './restart-policy';
import { parseGoInt, parseNanoCpus, parseRamInBytes } from './units';

/** A throttle on one block device, before the device path is resolved. */
export interface ThrottleRequest {
  /** Absolute path under /dev, as given. */
  path: string;
  /** Units: bytes per second (…Bps settings) or operations per second (…Iops); 0 removes the throttle. */
  rate: number;
}

export type ThrottleSetting = 'deviceReadBps' | 'deviceWriteBps' | 'deviceReadIops' | 'deviceWriteIops';

export const THROTTLE_SETTINGS: readonly ThrottleSetting[] = ['deviceReadBps', 'deviceWriteBps', 'deviceReadIops', 'deviceWriteIops'];

/** One update, in Docker's units. Absent = not part of this update. */
export interface LimitRequest {
  /** Units: nano-CPUs (1e9 = one CPU); always > 0. */
  nanoCpus?: number;
  /** CFS quota per period; -1 removes the cap. Units: microseconds. */
  cpuQuota?: number;
  /** CFS period. Units: microseconds. */
  cpuPeriod?: number;
  /** v1 cpu.shares (converted to cpu.weight on v2). Units: shares; > 0. */
  cpuShares?: number;
  /** CPU list, e.g. "0-1,3". */
  cpusetCpus?: string;
  /** Units: bytes; > 0. */
  memory?: number;
  /** Units: bytes; > 0. */
  memoryReservation?: number;
  /** Memory plus swap; -1 = unlimited swap. Units: bytes. */
  memorySwap?: number;
  /** Units: tasks; -1 = unlimited. */
  pidsLimit?: number;
  /** Units: weight, 10–1000 after validation. */
  blkioWeight?: number;
  deviceReadBps?: ThrottleRequest[];
  deviceWriteBps?: ThrottleRequest[];
  deviceReadIops?: ThrottleRequest[];
  deviceWriteIops?: ThrottleRequest[];
  /** The container's restart policy: no cgroup file, only containers with a runtime have one. */
  restartPolicy?: RestartPolicySetting;
  /** cgroup v2: apply a memory limit below the current usage anyway (the kernel reclaims, then OOM-kills). */
  force: boolean;
}

/** A setting of LimitRequest (everything but `force`). */
export type SettingName = Exclude<keyof LimitRequest, 'force'>;

/** The `docker update` flag of each body field, for messages and the CLI. */
export const FLAG_OF: Readonly<Record<SettingName | 'force', string>> = {
  nanoCpus: '--cpus',
  cpuQuota: '--cpu-quota',
  cpuPeriod: '--cpu-period',
  cpuShares: '--cpu-shares',
  cpusetCpus: '--cpuset-cpus',
  memory: '--memory',
  memoryReservation: '--memory-reservation',
  memorySwap: '--memory-swap',
  pidsLimit: '--pids-limit',
  blkioWeight: '--blkio-weight',
  deviceReadBps: '--device-read-bps',
  deviceWriteBps: '--device-write-bps',
  deviceReadIops: '--device-read-iops',
  deviceWriteIops: '--device-write-iops',
  restartPolicy: '--restart',
  force: '--force',
};

/** JSON body field → LimitRequest field. The body says `cpus`; the request holds nano-CPUs. */
const BODY_FIELDS: Readonly<Record<string, SettingName | 'force'>> = {
  cpus: 'nanoCpus',
  cpuQuota: 'cpuQuota',
  cpuPeriod: 'cpuPeriod',
  cpuShares: 'cpuShares',
  cpusetCpus: 'cpusetCpus',
  memory: 'memory',
  memoryReservation: 'memoryReservation',
  memorySwap: 'memorySwap',
  pidsLimit: 'pidsLimit',
  blkioWeight: 'blkioWeight',
  deviceReadBps: 'deviceReadBps',
  deviceWriteBps: 'deviceWriteBps',
  deviceReadIops: 'deviceReadIops',
  deviceWriteIops: 'deviceWriteIops',
  restart: 'restartPolicy',
  force: 'force',
};

/** The body fields, in the order `capstan update --help` lists their flags. */
export const BODY_FIELD_NAMES: readonly string[] = Object.keys(BODY_FIELDS);

/** A scalar as the text docker's flag parser would have seen. */
function scalarText(flag: string, value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw invalidArgument(flag, JSON.stringify(value) ?? String(value), 'expected a number or a string');
}

function parseWith(flag: string, text: string, parse: (text: string) => number): number {
  try {
    return parse(text);
  } catch (error) {
    throw invalidArgument(flag, text, (error as Error).message);
  }
}

/**
 * `/dev/vda:10mb` (bps) or `/dev/vda:1000` (iops), with docker's opts.ValidateThrottle*Device
 * messages; an object `{path, rate}` is accepted too.
 */
function parseThrottle(setting: ThrottleSetting, item: unknown): ThrottleRequest {
  const flag = FLAG_OF[setting];
  const bytes = setting.endsWith('Bps');
  const format = bytes
    ? 'The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb'
    : 'The correct format is <device-path>:<number>. Number must be a positive integer';
  let path: string;
  let rateText: string;
  let shown: string;
  if (typeof item === 'string') {
    const colon = item.indexOf(':');
    if (colon <= 0) throw invalidArgument(flag, item, `bad format: ${item}`);
    path = item.slice(0, colon);
    rateText = item.slice(colon + 1);
    shown = item;
  } else if (typeof item === 'object' && item !== null && typeof (item as { path?: unknown }).path === 'string') {
    path = (item as { path: string }).path;
    rateText = scalarText(flag, (item as { rate?: unknown }).rate);
    shown = `${path}:${rateText}`;
  } else {
    throw invalidArgument(flag, JSON.stringify(item) ?? String(item), 'expected "<device-path>:<rate>" or {"path", "rate"}');
  }
  if (!path.startsWith('/dev/')) throw invalidArgument(flag, shown, `bad format for device path: ${shown}`);
  let rate: number;
  try {
    rate = bytes ? parseRamInBytes(rateText) : parseGoInt(rateText);
  } catch {
    throw invalidArgument(flag, shown, `invalid rate for device: ${shown}. ${format}`);
  }
  if (rate < 0) throw invalidArgument(flag, shown, `invalid rate for device: ${shown}. ${format}`);
  return { path, rate };
}

function parseThrottleList(setting: ThrottleSetting, value: unknown): ThrottleRequest[] {
  const items = Array.isArray(value) ? value : [value];
  return items.map((item) => parseThrottle(setting, item));
}

/**
 * Parses and normalises a PATCH body. Throws LimitError (400) for a body that is not an object,
 * an unknown field, a malformed value, or a body that changes nothing.
 */
export function parseLimitRequest(body: unknown): LimitRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new LimitError(400, 'invalid_body', 'the request body must be a JSON object of limits, e.g. {"cpus": 0.5, "memory": "64m"}');
  }
  const request: LimitRequest = { force: false };
  for (const [field, value] of Object.entries(body as Record<string, unknown>)) {
    const target = Object.prototype.hasOwnProperty.call(BODY_FIELDS, field) ? BODY_FIELDS[field] : undefined;
    if (target === undefined) {
      throw new LimitError(400, 'unknown_field', `unknown field "${field}"; known fields: ${BODY_FIELD_NAMES.join(', ')}`);
    }
    if (value === undefined || value === null) continue;
    const flag = FLAG_OF[target];
    switch (target) {
      case 'force':
        if (typeof value !== 'boolean') throw invalidArgument(flag, JSON.stringify(value), 'expected true or false');
        request.force = value;
        break;
      case 'nanoCpus': {
        const nano = parseWith(flag, scalarText(flag, value), parseNanoCpus);
        // docker sends only non-zero values; a negative count is left to validation (range message).
        if (nano !== 0) request.nanoCpus = nano;
        break;
      }
      case 'cpuQuota': {
        const quota = parseWith(flag, scalarText(flag, value), parseGoInt);
        // Any negative quota means "no cap" to the kernel; -1 is how every tool spells it.
        if (quota !== 0) request.cpuQuota = quota < 0 ? -1 : quota;
        break;
      }
      case 'cpuPeriod': {
        const period = parseWith(flag, scalarText(flag, value), parseGoInt);
        if (period !== 0) request.cpuPeriod = period;
        break;
      }
      case 'cpuShares': {
        const text = scalarText(flag, value);
        const shares = parseWith(flag, text, parseGoInt);
        if (shares < 0) throw invalidArgument(flag, text, 'cpu shares must not be negative');
        if (shares !== 0) request.cpuShares = shares;
        break;
      }
      case 'cpusetCpus': {
        if (typeof value !== 'string') throw invalidArgument(flag, JSON.stringify(value), 'expected a CPU list such as "0-1,3"');
        if (value !== '') request.cpusetCpus = value;
        break;
      }
      case 'memory':
      case 'memoryReservation': {
        const bytes = parseWith(flag, scalarText(flag, value), parseRamInBytes);
        if (bytes !== 0) request[target] = bytes;
        break;
      }
      case 'memorySwap': {
        const text = scalarText(flag, value);
        // opts.MemSwapBytes: "-1" is unlimited swap; everything else is a size.
        const bytes = text === '-1' ? -1 : parseWith(flag, text, parseRamInBytes);
        if (bytes !== 0) request.memorySwap = bytes;
        break;
      }
      case 'pidsLimit': {
        const limit = parseWith(flag, scalarText(flag, value), parseGoInt);
        // Docker: 0 and -1 both mean unlimited.
        request.pidsLimit = limit <= 0 ? -1 : limit;
        break;
      }
      case 'blkioWeight': {
        const text = scalarText(flag, value);
        const weight = parseWith(flag, text, parseGoInt);
        // docker's flag is a uint16: anything outside is a parse error before the range check.
        if (weight < 0 || weight > 65535) throw invalidArgument(flag, text, `strconv.ParseUint: parsing ${JSON.stringify(text)}: value out of range`);
        if (weight !== 0) request.blkioWeight = weight;
        break;
      }
      case 'deviceReadBps':
      case 'deviceWriteBps':
      case 'deviceReadIops':
      case 'deviceWriteIops': {
        const list = parseThrottleList(target, value);
        if (list.length > 0) request[target] = [...(request[target] ?? []), ...list];
        break;
      }
      case 'restartPolicy': {
        const policy = parseRestartPolicyValue(value);
        if (policy !== undefined) request.restartPolicy = policy;
        break;
      }
    }
  }
  if (requestedSettings(request).length === 0) {
    throw new LimitError(400, 'no_limits', 'you must provide one or more flags when using this command');
  }
  return request;
}

/** The settings present in a request, in the order of FLAG_OF. */
export function requestedSettings(request: LimitRequest): SettingName[] {
  return (Object.keys(FLAG_OF) as Array<SettingName | 'force'>).filter(
    (name): name is SettingName => name !== 'force' && request[name] !== undefined,
  );
}
