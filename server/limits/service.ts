/**
 * LimitService: one live limit update from request to event. parse → read the cgroup's files →
 * resolve devices → validate (Docker's rules) → refuse a v2 memory limit below usage unless forced
 * → plan (runc's order) → write, read back, roll back on failure → read the limits again →
 * publish an `update` event and tell the listeners (the runtime persists limits of its own
 * containers through onApplied).
 *
 * An update runs synchronously from the first read to the last write, so two updates of the same
 * cgroup can never interleave and the rollback always restores what this update found.
 */
import * as os from 'node:os';
import type { CgroupManager } from '../cgroup/manage';
import { parentCgroupPath } from '../cgroup/hierarchy';
import type { EventBus, LimitChange } from '../events';
import type { CgroupLayout, ContainerInfo } from '../model';
import { bodyFieldOf, executePlan, type ClampedValue } from './apply';
import { limitsFromFiles, THROTTLE_FIELD, type CurrentLimits } from './current';
import { resolveThrottle, type ResolvedThrottle, type StatDevice } from './devices';
import { conflictingLimit, LimitError } from './errors';
import { cgroupManagerIo, readFileSnapshot, type CgroupVersion, type ControlFileIo } from './files';
import { planLimitWrites, type ResolvedLimitRequest } from './plan';
import { formatRestartPolicy, type RestartPolicySetting } from './restart-policy';
import { FLAG_OF, parseLimitRequest, requestedSettings, THROTTLE_SETTINGS, type LimitRequest, type SettingName, type ThrottleRequest } from './request';
import { formatBytes, NANO_CPUS_PER_CPU } from './units';
import { validateLimitRequest, type StoredCpuLimits, type ValidationContext } from './validate';

/**
 * The settings of an applied update, in Docker's units: what a runtime stores in its spec. Settings
 * the host dropped with a warning (swap, block-I/O weight) are left out, as Docker leaves them out
 * of its stored HostConfig.
 */
export type AppliedSettings = Omit<LimitRequest, 'force'>;

/** A container's restart policy as its runtime holds it, for `update --restart`. */
export interface RestartPolicyState {
  policy: RestartPolicySetting;
  /** Started with --rm: Docker refuses any policy but "no" then. */
  autoRemove: boolean;
}

/** What listeners (and the runtime's persistence) learn about each successful update. */
export interface AppliedLimits {
  container: ContainerInfo;
  /** The token name that made the change. */
  principal: string;
  settings: AppliedSettings;
  changes: LimitChange[];
  /** The limits read back after the update; absent for a restart policy changed while the container has no cgroup (not running). */
  limits?: CurrentLimits;
  /** Units: milliseconds since the Unix epoch. */
  timeMs: number;
}

export type AppliedListener = (applied: AppliedLimits) => void;

/** The answer to PATCH /api/v1/containers/:ref/limits. */
export interface LimitUpdateResult {
  /** One entry per setting written: old and new value as read back, and the file(s). */
  applied: LimitChange[];
  /** Values the kernel stored differently from what was written (page rounding, clamping). */
  clamped: ClampedValue[];
  /** Every limit of the cgroup, read back after the update; absent when only the restart policy of a container that is not running changed. */
  limits?: CurrentLimits;
  /** Settings dropped because the host lacks them (Docker's warnings), and persistence problems. */
  warnings: string[];
}

export interface LimitServiceOptions {
  layout: CgroupLayout;
  /** Control-file access; tests inject a fake. */
  io: ControlFileIo;
  /** CPUs the agent may hand out (Docker's NumCPU). Units: CPUs. Default: os.availableParallelism(). */
  hostCpus?: number;
  /** Where `update` events go. */
  bus?: EventBus;
  /** Units: milliseconds since the Unix epoch. */
  now?: () => number;
  /** stat(2) for throttle devices; tests inject a fake /dev. */
  statDevice?: StatDevice;
  /**
   * How the CPU cap was stored for a container before this agent saw it (the runtime's persisted
   * spec), for Docker's "Conflicting options" rules. Updates made through this service are
   * remembered on top of it.
   */
  storedCpuLimits?: (container: ContainerInfo) => StoredCpuLimits | undefined;
  /**
   * The restart policy of a container capstan runs (undefined for any other cgroup, which has
   * none): `update --restart` is checked against it, and the listeners store the new one.
   */
  restartPolicyOf?: (container: ContainerInfo) => RestartPolicyState | undefined;
  /** Called after each successful update (the same as registering with onApplied). */
  persist?: AppliedListener;
  /** Where listener failures are reported (they never undo an applied update). */
  onListenerError?: (error: unknown) => void;
}

export interface UpdateOptions {
  /** The token name recorded with the change. */
  principal: string;
}

function describeCpus(cpus: number | null | undefined): string {
  if (cpus === undefined) return 'unknown';
  if (cpus === null) return 'max';
  return String(Number(cpus.toFixed(9)));
}

function describeBytes(bytes: number | null | undefined): string {
  if (bytes === undefined) return 'unknown';
  return bytes === null ? 'max' : formatBytes(bytes);
}

function describeCount(value: number | null | undefined): string {
  if (value === undefined) return 'unknown';
  return value === null ? 'max' : String(value);
}

/** A setting's value in `limits`, as a change log shows it. */
function describeSetting(setting: SettingName, limits: CurrentLimits): string {
  switch (setting) {
    case 'nanoCpus':
      return describeCpus(limits.cpus);
    case 'cpuQuota':
      return describeCount(limits.cpuQuotaMicroseconds);
    case 'cpuPeriod':
      return describeCount(limits.cpuPeriodMicroseconds);
    case 'cpuShares':
      return describeCount(limits.cgroupVersion === 1 ? limits.cpuShares : limits.cpuWeight);
    case 'cpusetCpus':
      return limits.cpusetCpus ?? 'unknown';
    case 'memory':
      return describeBytes(limits.memoryBytes);
    case 'memoryReservation':
      return describeBytes(limits.memoryReservationBytes);
    case 'memorySwap':
      return describeBytes(limits.memorySwapBytes);
    case 'pidsLimit':
      return describeCount(limits.pidsLimit);
    case 'blkioWeight':
      return describeCount(limits.blkioWeight ?? limits.ioWeight);
    default:
      return 'unknown';
  }
}

function describeThrottle(setting: (typeof THROTTLE_SETTINGS)[number], device: ResolvedThrottle, limits: CurrentLimits): string {
  const entry = limits.deviceThrottles.find((t) => t.major === device.major && t.minor === device.minor);
  const rate = entry?.[THROTTLE_FIELD[setting]];
  if (rate === undefined) return `${device.path}:max`;
  return `${device.path}:${setting.endsWith('Bps') ? formatBytes(rate) : rate}`;
}

/** The PATCH body that re-applies stored settings (for a runtime re-adopting a container). */
export function settingsToBody(settings: AppliedSettings): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings) as Array<[SettingName, unknown]>) {
    if (value === undefined) continue;
    if (key === 'nanoCpus') body['cpus'] = `${value as number}/${NANO_CPUS_PER_CPU}`;
    else if (key === 'restartPolicy') body['restart'] = formatRestartPolicy(value as RestartPolicySetting);
    else body[key] = value;
  }
  return body;
}

export class LimitService {
  readonly version: CgroupVersion;
  private readonly io: ControlFileIo;
  private readonly hostCpus: number;
  private readonly listeners = new Set<AppliedListener>();
  /** How each container's CPU cap was last set through this service, by container id. */
  private readonly storedCpu = new Map<string, StoredCpuLimits>();

  constructor(private readonly options: LimitServiceOptions) {
    this.version = options.layout.controllersOn;
    this.io = options.io;
    this.hostCpus = options.hostCpus ?? os.availableParallelism();
    if (options.persist) this.listeners.add(options.persist);
  }

  /** A service writing the real hierarchy through `manager`. */
  static forCgroups(manager: CgroupManager, options: Omit<LimitServiceOptions, 'layout' | 'io'>): LimitService {
    return new LimitService({ ...options, layout: manager.layout, io: cgroupManagerIo(manager) });
  }

  /** Subscribes to successful updates; returns the function that unsubscribes. */
  onApplied(listener: AppliedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The limits in force on `container`'s cgroup. 404 when the cgroup is gone. */
  read(container: ContainerInfo): CurrentLimits {
    return limitsFromFiles(this.version, this.snapshot(container));
  }

  private snapshot(container: ContainerInfo): Map<string, string> {
    const files = readFileSnapshot(this.io, this.version, container.cgroupPath);
    if (!files) {
      throw new LimitError(404, 'no_such_container', `No such container: ${container.name} (its cgroup ${container.cgroupPath} no longer exists)`);
    }
    return files;
  }

  /** The CPUs a cgroup may be given: its parent's effective cpuset, when readable. */
  private availableCpus(container: ContainerInfo): string | undefined {
    const parent = parentCgroupPath(container.cgroupPath) ?? '/';
    const file = this.version === 1 ? 'cpuset.effective_cpus' : 'cpuset.cpus.effective';
    try {
      return this.io.read(this.version === 1 ? 'cpuset' : 'unified', parent, file);
    } catch {
      return undefined;
    }
  }

  private stored(container: ContainerInfo): StoredCpuLimits {
    return this.storedCpu.get(container.id) ?? this.options.storedCpuLimits?.(container) ?? {};
  }

  private remember(container: ContainerInfo, request: LimitRequest): void {
    const stored = { ...this.stored(container) };
    if (request.nanoCpus !== undefined) {
      stored.nanoCpus = request.nanoCpus;
    }
    if (request.cpuQuota !== undefined) {
      if (request.cpuQuota > 0) stored.cpuQuota = request.cpuQuota;
      else {
        // -1 lifts the cap, whichever style set it.
        delete stored.cpuQuota;
        delete stored.nanoCpus;
      }
    }
    if (request.cpuPeriod !== undefined) stored.cpuPeriod = request.cpuPeriod;
    this.storedCpu.set(container.id, stored);
  }

  /**
   * Applies the PATCH `body` to `container`'s cgroup. Throws LimitError (with its HTTP status) for
   * anything refused; when it throws, the cgroup holds exactly the limits it had before.
   */
  update(container: ContainerInfo, body: unknown, { principal }: UpdateOptions): LimitUpdateResult {
    const request = parseLimitRequest(body);
    if (container.cgroupPath === '/') {
      throw new LimitError(400, 'root_cgroup', 'the root cgroup has no limits of its own; name a container or a child cgroup');
    }
    if (requestedSettings(request).every((setting) => setting === 'restartPolicy')) return this.updateRestartPolicy(container, request, principal);
    const before = this.snapshot(container);
    const current = limitsFromFiles(this.version, before);
    const resolved = this.resolveDevices(request);

    const context: ValidationContext = { hostCpus: this.hostCpus, current, stored: this.stored(container) };
    if (request.cpusetCpus !== undefined) {
      const available = this.availableCpus(container);
      if (available !== undefined) context.availableCpus = available;
    }
    validateLimitRequest(request, context);
    this.refuseV2MemoryBelowUsage(request, current);
    const policyBefore = this.checkRestartPolicy(container, request);

    const plan = planLimitWrites(this.version, resolved, before, container.cgroupPath);
    const { clamped } = executePlan(this.io, container.cgroupPath, plan);

    let limits: CurrentLimits;
    try {
      limits = this.read(container);
    } catch (error) {
      // Written and verified file by file already; the cgroup vanished right after.
      throw new LimitError(410, 'cgroup_gone', `the cgroup ${container.cgroupPath} was removed right after the update: ${(error as Error).message}`);
    }
    const filesOf = (setting: SettingName): string[] => [...new Set(plan.steps.filter((step) => step.settings.includes(setting)).map((step) => step.file))];
    const changes = this.changes(request, resolved, filesOf, current, limits, policyBefore);
    this.remember(container, request);

    const settings: AppliedSettings = {};
    for (const setting of requestedSettings(request)) {
      // A setting dropped with a warning was not applied: it is not stored either.
      if (setting === 'restartPolicy' || filesOf(setting).length > 0) Object.assign(settings, { [setting]: request[setting] });
    }
    const warnings = [...plan.warnings, ...this.tell(container, principal, settings, changes, limits)];
    return { applied: changes, clamped, limits, warnings };
  }

  /**
   * An update of the restart policy alone writes no cgroup file, so it also applies to a container
   * that is not running (its cgroup exists only while it runs), as `docker update --restart` does.
   */
  private updateRestartPolicy(container: ContainerInfo, request: LimitRequest, principal: string): LimitUpdateResult {
    const policyBefore = this.checkRestartPolicy(container, request);
    const changes = this.changes(request, {} as ResolvedLimitRequest, () => [], {} as CurrentLimits, {} as CurrentLimits, policyBefore);
    let limits: CurrentLimits | undefined;
    try {
      limits = this.read(container);
    } catch {
      limits = undefined;
    }
    const warnings = this.tell(container, principal, { restartPolicy: request.restartPolicy! }, changes, limits);
    return { applied: changes, clamped: [], ...(limits ? { limits } : {}), warnings };
  }

  /** Publishes the `update` event and tells the listeners; returns their failures as warnings. */
  private tell(container: ContainerInfo, principal: string, settings: AppliedSettings, changes: LimitChange[], limits: CurrentLimits | undefined): string[] {
    const timeMs = this.publishUpdate(container, principal, changes);
    const applied: AppliedLimits = { container, principal, settings, changes, timeMs, ...(limits ? { limits } : {}) };
    const warnings: string[] = [];
    for (const listener of [...this.listeners]) {
      try {
        listener(applied);
      } catch (error) {
        warnings.push(`the new limits are applied but a listener failed (they may not persist): ${(error as Error)?.message ?? String(error)}`);
        this.options.onListenerError?.(error);
      }
    }
    return warnings;
  }

  /**
   * Applies the PATCH `body` through the container's owner (an engine's API) instead of its cgroup
   * files, which capstan never writes for a container another owner manages. Parsing (and its
   * messages) and the v2 below-usage guard are capstan's; validation is the owner's, whose refusal
   * `apply` throws as it is. Then the files are read back and the change recorded as an `update`.
   */
  async updateThroughOwner(
    container: ContainerInfo,
    body: unknown,
    { principal }: UpdateOptions,
    owner: string,
    apply: (request: LimitRequest, resolved: ResolvedLimitRequest) => Promise<string[]>,
  ): Promise<LimitUpdateResult> {
    const request = parseLimitRequest(body);
    const current = limitsFromFiles(this.version, this.snapshot(container));
    this.refuseV2MemoryBelowUsage(request, current);
    const resolved = this.resolveDevices(request);
    const warnings = await apply(request, resolved);
    let limits: CurrentLimits;
    try {
      limits = this.read(container);
    } catch (error) {
      throw new LimitError(410, 'cgroup_gone', `${owner} applied the update, but the cgroup ${container.cgroupPath} was removed right after: ${(error as Error).message}`);
    }
    const changes = this.changes(request, resolved, () => [`${owner} API`], current, limits);
    this.publishUpdate(container, principal, changes);
    return { applied: changes, clamped: [], limits, warnings };
  }

  /**
   * `--restart` is a container's, not a cgroup's: refused for a cgroup without a runtime, and, as
   * Docker does, for a --rm container unless the policy is "no". Returns the policy before.
   */
  private checkRestartPolicy(container: ContainerInfo, request: LimitRequest): RestartPolicySetting | undefined {
    if (request.restartPolicy === undefined) return undefined;
    const state = this.options.restartPolicyOf?.(container);
    if (!state) {
      throw new LimitError(
        400,
        'no_restart_policy',
        `${container.name} is not a container capstan runs (source: ${container.source}): only containers have a restart policy`,
        { flag: FLAG_OF.restartPolicy },
      );
    }
    if (state.autoRemove && request.restartPolicy.name !== 'no') {
      throw conflictingLimit('Restart policy cannot be updated because AutoRemove is enabled for the container', FLAG_OF.restartPolicy);
    }
    return state.policy;
  }

  /** The `update` event of an applied change; returns its time. Units: milliseconds since the Unix epoch. */
  private publishUpdate(container: ContainerInfo, principal: string, changes: LimitChange[]): number {
    const timeMs = (this.options.now ?? Date.now)();
    const attributes: Record<string, string> = { name: container.name };
    if (container.image !== '') attributes['image'] = container.image;
    this.options.bus?.publish({
      type: 'container',
      action: 'update',
      actor: { id: container.id, name: container.name, cgroupPath: container.cgroupPath, image: container.image },
      timeMs,
      attributes,
      principal,
      changes,
    });
    return timeMs;
  }

  private resolveDevices(request: LimitRequest): ResolvedLimitRequest {
    const resolved: ResolvedLimitRequest = { ...request } as ResolvedLimitRequest;
    for (const setting of THROTTLE_SETTINGS) {
      const throttles: ThrottleRequest[] | undefined = request[setting];
      if (throttles === undefined) continue;
      resolved[setting] = throttles.map((t) => resolveThrottle(FLAG_OF[setting], t, this.options.statDevice));
    }
    return resolved;
  }

  /**
   * On v2 the kernel accepts a memory.max below the usage and then reclaims and OOM-kills inside
   * the cgroup to get there. Refuse unless forced, with runc's v1 wording plus why (v1 refuses by
   * itself, with EBUSY, and is handled when the write fails).
   */
  private refuseV2MemoryBelowUsage(request: LimitRequest, current: CurrentLimits): void {
    if (this.version !== 2 || request.memory === undefined || request.force) return;
    const usage = current.memoryUsageBytes;
    if (usage === undefined || request.memory >= usage) return;
    const peak = current.memoryPeakUsageBytes ?? 'unknown';
    throw new LimitError(
      409,
      'memory_below_usage',
      `unable to set memory limit to ${request.memory} (current usage: ${usage}, peak usage: ${peak}): ` +
        'on cgroup v2 the kernel would reclaim memory and then OOM-kill processes in the container to get below it; ' +
        'pass force (capstan update --force) to apply it anyway',
      { flag: FLAG_OF.memory },
    );
  }

  /** One LimitChange per setting written (per device for throttles), old and new as read back. */
  private changes(
    request: LimitRequest,
    resolved: ResolvedLimitRequest,
    filesOf: (setting: SettingName) => string[],
    before: CurrentLimits,
    after: CurrentLimits,
    policyBefore?: RestartPolicySetting,
  ): LimitChange[] {
    const changes: LimitChange[] = [];
    for (const setting of requestedSettings(request)) {
      if (setting === 'restartPolicy') {
        const policy = request.restartPolicy!;
        const old = policyBefore ? formatRestartPolicy(policyBefore) : 'unknown';
        changes.push({ setting: bodyFieldOf(setting), old, new: formatRestartPolicy(policy), file: filesOf(setting).join(', ') || 'restart policy' });
        continue;
      }
      const files = filesOf(setting);
      if (files.length === 0) continue; // dropped with a warning
      if ((THROTTLE_SETTINGS as readonly string[]).includes(setting)) {
        const throttleSetting = setting as (typeof THROTTLE_SETTINGS)[number];
        const seen = new Set<string>();
        for (const device of [...(resolved[throttleSetting] ?? [])].reverse()) {
          // The last entry for a device is the one written.
          const key = `${device.major}:${device.minor}`;
          if (seen.has(key)) continue;
          seen.add(key);
          changes.push({
            setting: bodyFieldOf(setting),
            old: describeThrottle(throttleSetting, device, before),
            new: describeThrottle(throttleSetting, device, after),
            file: files.join(', '),
          });
        }
        continue;
      }
      changes.push({ setting: bodyFieldOf(setting), old: describeSetting(setting, before), new: describeSetting(setting, after), file: files.join(', ') });
    }
    return changes;
  }
}
