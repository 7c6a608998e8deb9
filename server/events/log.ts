/**
 * The event log on disk: one JSON object per line in `<stateDir>/events/events-<n>.jsonl`, n
 * counting up. The highest n is the file being appended to; when it would pass `maxFileBytes`, or
 * its first event is older than `maxAgeMs`, the next n starts. Files beyond `maxFiles`, and files
 * whose last write is older than `maxAgeMs`, are deleted oldest first. So the log is bounded by
 * size (maxFiles × maxFileBytes) and by age, and a file is never renamed: a reader that listed the
 * files reads exactly what they held.
 *
 * Appends are synchronous write(2)s of whole lines on an O_APPEND descriptor: once append()
 * returns, the line is in the kernel's page cache and survives an agent crash (not a power cut:
 * no fsync per event, by choice). A line cut short by a full disk is skipped when reading.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { EventBus } from './bus';
import type { CapstanEvent } from './types';

export const DEFAULT_EVENT_LOG_MAX_FILE_BYTES = 10 * 1024 * 1024;
export const DEFAULT_EVENT_LOG_MAX_FILES = 5;
export const DEFAULT_EVENT_LOG_MAX_AGE_MS = 7 * 24 * 3_600_000;

export interface EventLogOptions {
  /** The log's own directory (the agent uses `<stateDir>/events`); created 0700 if missing. */
  directory: string;
  /** Rotate before a file passes this size. Units: bytes. */
  maxFileBytes?: number;
  /** Files kept, the one being written included. Units: files (count). */
  maxFiles?: number;
  /** Events older than this are dropped (whole files, and filtered on reading). Units: milliseconds. */
  maxAgeMs?: number;
  /** Units: milliseconds since the Unix epoch. */
  now?: () => number;
  /** A write or clean-up that failed (the event still reaches the bus's other listeners). */
  onError?: (error: Error) => void;
}

/** A point in the log: everything before it was appended earlier. */
export interface LogPosition {
  /** The file's sequence number n. */
  file: number;
  /** Units: bytes. */
  offset: number;
}

export interface EventLogQuery {
  /** Only events at or after this time. Units: milliseconds since the Unix epoch. */
  sinceMs?: number;
  /** Only events at or before this time. Units: milliseconds since the Unix epoch. */
  untilMs?: number;
  /** Stop at this position (events appended later are left out). Default: the end at the time of the call. */
  upTo?: LogPosition;
  filter?: (event: CapstanEvent) => boolean;
}

const FILE_PATTERN = /^events-(\d{8,})\.jsonl$/;
/** How often old files are looked for even when nothing is written. Units: milliseconds. */
const PRUNE_INTERVAL_MS = 3_600_000;
/** How much of a file's head is read to find its first event's time. Units: bytes. */
const HEAD_BYTES = 64 * 1024;

function fileName(sequence: number): string {
  return `events-${String(sequence).padStart(8, '0')}.jsonl`;
}

/** A parsed line, or undefined for a line that is not a complete event (cut short, foreign). */
export function parseEventLine(line: string): CapstanEvent | undefined {
  if (line.length === 0 || line.charCodeAt(0) !== 123 /* { */) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  const event = value as Partial<CapstanEvent>;
  if (typeof event.action !== 'string' || typeof event.timeMs !== 'number' || typeof event.actor !== 'object' || event.actor === null) return undefined;
  if (typeof event.attributes !== 'object' || event.attributes === null) event.attributes = {};
  return event as CapstanEvent;
}

export class EventLog {
  readonly directory: string;
  private readonly maxFileBytes: number;
  private readonly maxFiles: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;
  private readonly onError: (error: Error) => void;
  private fd: number | undefined;
  private sequence = 0;
  private size = 0;
  /** Time of the current file's first event, or undefined while it is empty. Units: ms since the epoch. */
  private firstEventMs: number | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private closed = false;

  /** Opens (creating if needed) the log and prunes what is too old. Throws if the directory cannot be used. */
  constructor(options: EventLogOptions) {
    this.directory = options.directory;
    this.maxFileBytes = options.maxFileBytes ?? DEFAULT_EVENT_LOG_MAX_FILE_BYTES;
    this.maxFiles = Math.max(1, options.maxFiles ?? DEFAULT_EVENT_LOG_MAX_FILES);
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_EVENT_LOG_MAX_AGE_MS;
    this.now = options.now ?? Date.now;
    this.onError = options.onError ?? ((error) => console.error(`capstan: event log: ${error.message}`));
    if (!(this.maxFileBytes >= 1024)) throw new RangeError(`event log: maxFileBytes must be at least 1024, got ${this.maxFileBytes}`);

    fs.mkdirSync(this.directory, { recursive: true, mode: 0o700 });
    const sequences = this.listSequences();
    const last = sequences[sequences.length - 1];
    if (last !== undefined) {
      const file = path.join(this.directory, fileName(last));
      const stat = fs.statSync(file);
      const first = this.readFirstEventMs(file);
      const tooOld = first !== undefined && first < this.now() - this.maxAgeMs;
      if (stat.size < this.maxFileBytes && !tooOld && this.endsWithNewline(file, stat.size)) {
        this.sequence = last;
        this.size = stat.size;
        this.firstEventMs = first;
      } else {
        this.sequence = last + 1;
      }
    } else {
      this.sequence = 1;
    }
    this.openCurrent();
    this.prune();
    this.pruneTimer = setInterval(() => this.prune(), PRUNE_INTERVAL_MS);
    this.pruneTimer.unref();
  }

  /** Appends one event. Never throws: a failed write is reported through onError. */
  append(event: CapstanEvent): void {
    if (this.closed) return;
    const line = Buffer.from(JSON.stringify(event) + '\n', 'utf8');
    try {
      const tooBig = this.size > 0 && this.size + line.length > this.maxFileBytes;
      const tooOld = this.firstEventMs !== undefined && this.firstEventMs < this.now() - this.maxAgeMs;
      if (tooBig || tooOld) this.rotate();
      if (this.fd === undefined) this.openCurrent();
      let written = 0;
      while (written < line.length) written += fs.writeSync(this.fd!, line, written, line.length - written);
      this.size += line.length;
      this.firstEventMs ??= event.timeMs;
    } catch (error) {
      this.onError(new Error(`cannot append to ${path.join(this.directory, fileName(this.sequence))}: ${(error as Error).message}`));
      // Whatever part of the line reached the file is skipped by readers; count it so the size bound holds.
      try {
        if (this.fd !== undefined) this.size = fs.fstatSync(this.fd).size;
      } catch {
        // Nothing more to learn.
      }
    }
  }

  /** Subscribes append() to the bus; returns the unsubscribe function. */
  attach(bus: EventBus): () => void {
    return bus.subscribe((event) => this.append(event));
  }

  /** The end of the log right now. */
  position(): LogPosition {
    return { file: this.sequence, offset: this.size };
  }

  /**
   * Past events, oldest first, matching the query. Reads the files as they are when called, up to
   * `upTo` (default: the current end), streaming line by line.
   */
  async *read(query: EventLogQuery = {}): AsyncGenerator<CapstanEvent> {
    const upTo = query.upTo ?? this.position();
    const oldestMs = this.now() - this.maxAgeMs;
    const sinceMs = Math.max(query.sinceMs ?? -Infinity, oldestMs);
    for (const sequence of this.listSequences()) {
      if (sequence > upTo.file) break;
      const file = path.join(this.directory, fileName(sequence));
      const end = sequence === upTo.file ? upTo.offset : Infinity;
      if (end === 0) continue;
      let stream: fs.ReadStream;
      try {
        // A file whose last write is older than `since` holds nothing newer (a minute of slack
        // for events stamped a little after they were written).
        if (fs.statSync(file).mtimeMs < sinceMs - 60_000) continue;
        stream = fs.createReadStream(file, end === Infinity ? {} : { start: 0, end: end - 1 });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // pruned meanwhile
        throw error;
      }
      const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
      try {
        for await (const line of lines) {
          const event = parseEventLine(line);
          if (!event) continue;
          if (event.timeMs < sinceMs) continue;
          if (query.untilMs !== undefined && event.timeMs > query.untilMs) continue;
          if (query.filter && !query.filter(event)) continue;
          yield event;
        }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      } finally {
        lines.close();
        stream.destroy();
      }
    }
  }

  /** Closes the file. Later appends are ignored. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.closeCurrent();
  }

  /** Sequence numbers of the files present, ascending. */
  private listSequences(): number[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const sequences: number[] = [];
    for (const name of names) {
      const match = FILE_PATTERN.exec(name);
      if (match) sequences.push(Number(match[1]));
    }
    return sequences.sort((a, b) => a - b);
  }

  private openCurrent(): void {
    // libuv opens every file close-on-exec, so container shims never inherit the log.
    this.fd = fs.openSync(path.join(this.directory, fileName(this.sequence)), fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, 0o600);
  }

  private closeCurrent(): void {
    if (this.fd === undefined) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      // Already unusable; nothing was buffered in user space.
    }
    this.fd = undefined;
  }

  private rotate(): void {
    this.closeCurrent();
    this.sequence += 1;
    this.size = 0;
    this.firstEventMs = undefined;
    this.openCurrent();
    this.prune();
  }

  /** Deletes files beyond maxFiles and files whose newest event is older than maxAgeMs; never the current one. */
  private prune(): void {
    if (this.closed) return;
    try {
      const older = this.listSequences().filter((sequence) => sequence < this.sequence);
      const excess = older.length + 1 - this.maxFiles;
      const cutoffMs = this.now() - this.maxAgeMs;
      older.forEach((sequence, index) => {
        const file = path.join(this.directory, fileName(sequence));
        let remove = index < excess;
        if (!remove) {
          try {
            remove = fs.statSync(file).mtimeMs < cutoffMs;
          } catch {
            return;
          }
        }
        if (remove) fs.rmSync(file, { force: true });
      });
    } catch (error) {
      this.onError(new Error(`cannot prune ${this.directory}: ${(error as Error).message}`));
    }
  }

  private readFirstEventMs(file: string): number | undefined {
    const fd = fs.openSync(file, 'r');
    try {
      const buffer = Buffer.alloc(HEAD_BYTES);
      const length = fs.readSync(fd, buffer, 0, HEAD_BYTES, 0);
      const text = buffer.subarray(0, length).toString('utf8');
      for (const line of text.split('\n')) {
        const event = parseEventLine(line);
        if (event) return event.timeMs;
      }
      return undefined;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** A file cut short mid-line by a crash gets a fresh successor rather than a glued-on line. */
  private endsWithNewline(file: string, size: number): boolean {
    if (size === 0) return true;
    const fd = fs.openSync(file, 'r');
    try {
      const byte = Buffer.alloc(1);
      fs.readSync(fd, byte, 0, 1, size - 1);
      return byte[0] === 10;
    } finally {
      fs.closeSync(fd);
    }
  }
}
