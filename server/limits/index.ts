/**
 * Live limits: Docker-compatible parsing and validation, runc's write order on cgroup v1 and v2,
 * read-back with clamp reporting, and all-or-nothing rollback. The API router and the CLI use
 * LimitService; the runtime persists limits of its own containers through `onApplied` (or the
 * `persist` option) and re-applies them with `settingsToBody`.
 */
export { LimitError, type RollbackEntry } from './errors';
export { parseRamInBytes, parseNanoCpus, parseGoInt, parseCpuList, formatCpuList, formatBytes } from './units';
export {
  parseLimitRequest,
  requestedSettings,
  FLAG_OF,
  BODY_FIELD_NAMES,
  THROTTLE_SETTINGS,
  type LimitRequest,
  type SettingName,
  type ThrottleRequest,
  type ThrottleSetting,
} from './request';
export { cpuSharesToWeight, blkioWeightToIoWeight } from './convert';
export { validateLimitRequest, MIN_MEMORY_BYTES, type StoredCpuLimits, type ValidationContext } from './validate';
export { limitsFromFiles, type CurrentLimits, type DeviceThrottle } from './current';
export { cgroupManagerIo, readFileSnapshot, controllerOf, type ControlFileIo, type CgroupVersion, type ControllerName } from './files';
export { resolveThrottle, deviceNumbers, type StatDevice, type ResolvedThrottle } from './devices';
export { planLimitWrites, type WritePlan, type WriteStep, type ReadBackCheck, type ResolvedLimitRequest } from './plan';
export { executePlan, clampedReadBack, type ClampedValue, type ExecutionResult } from './apply';
export {
  LimitService,
  settingsToBody,
  type AppliedLimits,
  type AppliedListener,
  type AppliedSettings,
  type LimitServiceOptions,
  type LimitUpdateResult,
  type RestartPolicyState,
} from './service';
export {
  parseRestartPolicyText,
  parseRestartPolicyValue,
  validateRestartPolicy,
  formatRestartPolicy,
  RESTART_POLICY_NAMES,
  type RestartPolicyName,
  type RestartPolicySetting,
} from './restart-policy';
