/**
 * Capstan's events, shaped like `docker events` (Type, Action, Actor{ID, Attributes}, time) so
 * people and tools read them the same way, with capstan's own details kept in typed fields.
 */

/** What happened. Lifecycle actions follow docker's names. */
export type EventAction =
  | 'create'
  | 'start'
  | 'die'
  | 'stop'
  | 'kill'
  | 'pause'
  | 'unpause'
  | 'restart'
  | 'destroy'
  | 'rename'
  | 'oom'
  | 'update'
  | 'memory-near-limit'
  | 'memory-near-limit-cleared';

export interface EventActor {
  /** The container's 64-hex id. */
  id: string;
  name: string;
  cgroupPath: string;
  image: string;
}

/** Old and new value of one changed setting (an `update` event carries one per setting). */
export interface LimitChange {
  /** capstan setting name, e.g. "memory", "cpus", "pidsLimit". */
  setting: string;
  /** Human-readable old value as read back from the kernel, e.g. "64MiB", "0.5", "max". */
  old: string;
  new: string;
  /** The control file written. */
  file: string;
}

export interface CapstanEvent {
  /** Always "container" for now (docker also has image, network, ...). */
  type: 'container';
  action: EventAction;
  actor: EventActor;
  /** When it happened. Units: milliseconds since the Unix epoch. */
  timeMs: number;
  /** docker-style string attributes, sorted by key when printed (exitCode, signal, ...). */
  attributes: Record<string, string>;
  /** oom: the limit in force at the kill. Units: bytes. */
  memoryLimitBytes?: number;
  /** oom / memory-near-limit: usage at the time. Units: bytes. */
  memoryUsageBytes?: number;
  /** die: the main process's exit code (137 after SIGKILL). */
  exitCode?: number;
  /** update: who made the change (the token's name) and what changed. */
  principal?: string;
  changes?: LimitChange[];
}
