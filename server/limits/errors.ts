/**
 * The one error type of the limits module. Each carries the HTTP status the API answers with and a
 * stable code, so the router stays a thin translation and the CLI can print the message as is.
 *
 * Statuses (documented in README "Changing limits"):
 *   400 the request itself is wrong (malformed value, Docker's validation rules, a path that is not
 *       a block device, or a value the kernel refused as invalid);
 *   404 the container's cgroup is gone before anything was written;
 *   409 the request conflicts with the cgroup's state (memory below current usage, a limit set
 *       earlier in the other CPU style, the stored memory+swap limit, a controller not enabled);
 *   410 the cgroup vanished in the middle of the update;
 *   500 the agent could not write or could not roll back.
 */

/** A change already written that a failed update restored (or failed to restore). */
export interface RollbackEntry {
  setting: string;
  file: string;
  /** What was put back: the file's text before the update. */
  restored: string;
  /** Present when restoring failed: the cgroup keeps the update's value for this file. */
  error?: string;
}

export class LimitError extends Error {
  override name = 'LimitError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: {
      /** The CLI flag the problem is about ("--memory"), when there is one. */
      flag?: string;
      /** Writes undone because a later write failed. */
      rolledBack?: RollbackEntry[];
      /** The kernel's errno code of the write that failed. */
      errno?: string;
      /** The control file whose write failed. */
      file?: string;
    } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** 400 for a request value, naming its flag the way docker (pflag) does. */
export function invalidArgument(flag: string, value: string, why: string): LimitError {
  return new LimitError(400, 'invalid_argument', `invalid argument "${value}" for "${flag}" flag: ${why}`, { flag });
}

/** 400 with one of Docker's validation messages, word for word. */
export function invalidLimit(message: string, flag?: string): LimitError {
  return new LimitError(400, 'invalid_limit', message, flag === undefined ? {} : { flag });
}

/** 409: valid on its own, but not with the cgroup's current state. */
export function conflictingLimit(message: string, flag?: string): LimitError {
  return new LimitError(409, 'conflicting_limit', message, flag === undefined ? {} : { flag });
}
