/**
 * Carrying out a write plan: write each file, read it back, and when any write fails, restore the
 * files already written, last first, so an update applies whole or not at all. All I/O goes
 * through ControlFileIo, so a unit test can make the second write fail.
 *
 * The steps run synchronously, one after another: nothing else in the agent can interleave with
 * an update (the event loop is held for the few microseconds the writes take).
 */
import { parseIoMax, parseV1Throttle } from './current';
import { LimitError, type RollbackEntry } from './errors';
import type { ControlFileIo } from './files';
import type { ReadBackCheck, WritePlan, WriteStep } from './plan';
import { FLAG_OF } from './request';
import { formatCpuList, parseCpuList } from './units';
import { V1_UNLIMITED_THRESHOLD } from '../cgroup/parse';

/** A value the kernel stored differently from what was written. */
export interface ClampedValue {
  /** The body field(s) the write carried, e.g. "cpuShares". */
  setting: string;
  file: string;
  /** What was written. */
  requested: string;
  /** What the file reads back. */
  applied: string;
}

export interface WrittenStep {
  step: WriteStep;
  /** The file's text after the write. */
  readBack: string;
}

export interface ExecutionResult {
  written: WrittenStep[];
  clamped: ClampedValue[];
}

/** The body field name of a setting ("nanoCpus" is `cpus` in the body). */
export function bodyFieldOf(setting: string): string {
  if (setting === 'restartPolicy') return 'restart';
  return setting === 'nanoCpus' ? 'cpus' : setting;
}

function errorCode(error: unknown): string {
  return String((error as NodeJS.ErrnoException)?.code ?? 'EIO');
}

/** Normalises a byte limit's text: undefined for unlimited. */
function bytesOf(text: string): number | undefined {
  if (text === 'max' || text === '-1') return undefined;
  if (!/^\d+$/.test(text)) return NaN;
  const value = Number(text);
  return value >= V1_UNLIMITED_THRESHOLD ? undefined : value;
}

/**
 * What `readBack` shows for the value the step wrote, or undefined when it shows exactly that.
 * A string return means the kernel kept something else (rounded, clamped, or ignored the write).
 */
export function clampedReadBack(check: ReadBackCheck, written: string, readBack: string): string | undefined {
  const text = readBack.trim();
  switch (check.kind) {
    case 'text':
      return text === written ? undefined : text;
    case 'bytes':
      return bytesOf(text) === bytesOf(written) ? undefined : text;
    case 'cpuList': {
      const want = parseCpuList(written);
      const have = parseCpuList(text);
      return want && have && formatCpuList(want) === formatCpuList(have) ? undefined : text;
    }
    case 'weight': {
      const match = /^(?:default\s+)?(\d+)/.exec(text);
      return match && match[1] === written ? undefined : (text.split('\n')[0] ?? text);
    }
    case 'cpuMax':
      return text.split(/\s+/).join(' ') === written ? undefined : text;
    case 'v1Throttle': {
      const entry = parseV1Throttle(text).find((e) => e.major === check.major && e.minor === check.minor);
      const rate = entry?.rate ?? 0;
      return rate === check.rate ? undefined : `${check.major}:${check.minor} ${rate}`;
    }
    case 'ioMax': {
      const values = parseIoMax(text).find((e) => e.major === check.major && e.minor === check.minor)?.values ?? new Map<string, number>();
      const matches = Object.entries(check.keys).every(([key, want]) => (values.get(key) ?? null) === want);
      if (matches) return undefined;
      return `${check.major}:${check.minor} ` + Object.keys(check.keys).map((k) => `${k}=${values.get(k) ?? 'max'}`).join(' ');
    }
  }
}

function flagsOf(step: WriteStep): string {
  return step.settings.map((s) => FLAG_OF[s]).join(', ');
}

/** Extra reads for the v1 EBUSY message, best effort. */
function readNumber(io: ControlFileIo, step: WriteStep, cgroupPath: string, file: string): string {
  try {
    return io.read(step.controller, cgroupPath, file);
  } catch {
    return 'unknown';
  }
}

/** The error for a failed write or read-back, before the rollback summary is added. */
function failureFor(io: ControlFileIo, cgroupPath: string, step: WriteStep, error: unknown, phase: 'write' | 'read back'): LimitError {
  const code = errorCode(error);
  const where = io.describe(step.controller, cgroupPath, step.file);
  const details = { errno: code, file: step.file, flag: FLAG_OF[step.settings[0]!] };
  if ((code === 'ENOENT' || code === 'ENODEV') && !io.exists(step.controller, cgroupPath)) {
    return new LimitError(410, 'cgroup_gone', `the cgroup ${cgroupPath} was removed during the update (${phase} ${step.file}: ${code})`, details, {
      cause: error,
    });
  }
  if (phase === 'write' && code === 'EBUSY' && step.file === 'memory.limit_in_bytes') {
    // runc's wording (fs/memory.go): the kernel could not reclaim down to the new limit.
    const usage = readNumber(io, step, cgroupPath, 'memory.usage_in_bytes');
    const peak = readNumber(io, step, cgroupPath, 'memory.max_usage_in_bytes');
    return new LimitError(409, 'memory_below_usage', `unable to set memory limit to ${step.value} (current usage: ${usage}, peak usage: ${peak})`, details, {
      cause: error,
    });
  }
  if (phase === 'write' && code === 'EBUSY' && step.file === 'memory.memsw.limit_in_bytes') {
    const usage = readNumber(io, step, cgroupPath, 'memory.memsw.usage_in_bytes');
    const peak = readNumber(io, step, cgroupPath, 'memory.memsw.max_usage_in_bytes');
    return new LimitError(
      409,
      'memory_below_usage',
      `unable to set memory+swap limit to ${step.value} (current usage: ${usage}, peak usage: ${peak})`,
      details,
      { cause: error },
    );
  }
  if (phase === 'write' && (code === 'EINVAL' || code === 'ERANGE' || code === 'EOVERFLOW' || code === 'ENODEV')) {
    return new LimitError(400, 'kernel_refused', `the kernel refused ${JSON.stringify(step.value)} for ${step.file} (${flagsOf(step)}): ${code}`, details, {
      cause: error,
    });
  }
  if (code === 'ENOENT') {
    return new LimitError(409, 'controller_unavailable', `cannot apply ${flagsOf(step)}: ${where} does not exist`, details, { cause: error });
  }
  return new LimitError(500, 'write_failed', `cannot ${phase} ${where} (${flagsOf(step)}): ${(error as Error)?.message ?? code}`, details, {
    cause: error,
  });
}

/** Restores `done` last first; each entry says what was put back, or why it could not be. */
function rollBack(io: ControlFileIo, cgroupPath: string, done: readonly WriteStep[]): RollbackEntry[] {
  const entries: RollbackEntry[] = [];
  for (const step of [...done].reverse()) {
    const entry: RollbackEntry = { setting: step.settings.map(bodyFieldOf).join(','), file: step.file, restored: step.restore };
    try {
      io.write(step.controller, cgroupPath, step.file, step.restore);
    } catch (error) {
      entry.error = (error as Error)?.message ?? errorCode(error);
    }
    entries.push(entry);
  }
  return entries;
}

function withRollback(failure: LimitError, rolledBack: RollbackEntry[]): LimitError {
  let message = failure.message;
  const failed = rolledBack.filter((e) => e.error !== undefined);
  if (rolledBack.length === 0) {
    message += '; nothing was changed';
  } else if (failure.code === 'cgroup_gone') {
    message += `; ${rolledBack.length} earlier write(s) could not be restored because the cgroup is gone`;
  } else if (failed.length === 0) {
    message += `; rolled back: ${rolledBack.map((e) => `${e.file} restored to ${JSON.stringify(e.restored)}`).join(', ')}`;
  } else {
    const restored = rolledBack.filter((e) => e.error === undefined);
    message +=
      `; ROLLBACK FAILED for ${failed.map((e) => `${e.file} (${e.error})`).join(', ')}: the cgroup is left partly updated` +
      (restored.length > 0 ? `; restored: ${restored.map((e) => e.file).join(', ')}` : '');
    return new LimitError(500, 'rollback_failed', message, { ...failure.details, rolledBack }, { cause: failure });
  }
  return new LimitError(failure.status, failure.code, message, { ...failure.details, rolledBack }, { cause: failure.cause });
}

/**
 * Runs `plan` against `cgroupPath`. On success every step is written and read back, and values
 * the kernel stored differently are listed in `clamped`. On failure the steps already written are
 * restored and a LimitError says what failed and what was rolled back (status 500 if a restore
 * itself failed).
 */
export function executePlan(io: ControlFileIo, cgroupPath: string, plan: WritePlan): ExecutionResult {
  const done: WriteStep[] = [];
  const written: WrittenStep[] = [];
  const clamped: ClampedValue[] = [];
  let deferredPeriod: WriteStep | undefined;

  const fail = (step: WriteStep, error: unknown, phase: 'write' | 'read back'): never => {
    throw withRollback(failureFor(io, cgroupPath, step, error, phase), rollBack(io, cgroupPath, done));
  };

  /** Writes and reads back one step; false when `tolerateEinval` and the kernel said EINVAL. */
  const writeAndVerify = (step: WriteStep, tolerateEinval = false): boolean => {
    try {
      io.write(step.controller, cgroupPath, step.file, step.value);
    } catch (error) {
      if (tolerateEinval && errorCode(error) === 'EINVAL') return false;
      fail(step, error, 'write');
    }
    done.push(step);
    let readBack = '';
    try {
      readBack = io.read(step.controller, cgroupPath, step.file);
    } catch (error) {
      fail(step, error, 'read back');
    }
    written.push({ step, readBack });
    const applied = clampedReadBack(step.check, step.value, readBack);
    if (applied !== undefined) {
      clamped.push({ setting: step.settings.map(bodyFieldOf).join(','), file: step.file, requested: step.value, applied });
    }
    return true;
  };

  for (const step of plan.steps) {
    if (step.retryAfterQuotaOnEinval) {
      // runc: a shorter period can be refused until the new quota is in; try again after it.
      if (!writeAndVerify(step, true)) deferredPeriod = step;
      continue;
    }
    writeAndVerify(step);
    if (deferredPeriod !== undefined && step.file === 'cpu.cfs_quota_us') {
      const period = deferredPeriod;
      deferredPeriod = undefined;
      writeAndVerify(period);
    }
  }
  if (deferredPeriod !== undefined) {
    fail(deferredPeriod, Object.assign(new Error('EINVAL: the period was refused and no quota followed'), { code: 'EINVAL' }), 'write');
  }
  return { written, clamped };
}
