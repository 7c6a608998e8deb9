/**
 * Reading a container's log: the shim writes container.log (one JSON LogLine per line) and rotates
 * it to container.log.1 … .N. `logs` reads them oldest first, filters by time and keeps the last N
 * lines; `logs -f` then follows the live file across rotations until the container has exited.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CONTAINER_FILES, type LogLine } from './shim-protocol';

/** Rotated files looked for (the shim's maxFiles is far below). */
const MAX_ROTATED_FILES = 32;
const READ_CHUNK_BYTES = 64 * 1024;

export interface LogQuery {
  /** Only lines at or after. Units: milliseconds since the Unix epoch. */
  sinceMs?: number;
  /** Only lines before. Units: milliseconds since the Unix epoch. */
  untilMs?: number;
  /** Only the last N lines of what is already there; undefined = all. */
  tail?: number;
}

/** One JSON line of the log; undefined for a torn or foreign line (skipped, never fatal). */
export function parseLogLine(text: string): LogLine | undefined {
  if (text === '') return undefined;
  try {
    const value = JSON.parse(text) as Partial<LogLine>;
    if (typeof value.time !== 'string' || typeof value.log !== 'string' || (value.stream !== 'stdout' && value.stream !== 'stderr')) return undefined;
    return value as LogLine;
  } catch {
    return undefined;
  }
}

/** RFC 3339 with nanoseconds → milliseconds (the nanoseconds beyond are dropped). */
export function logTimeMs(time: string): number {
  return Date.parse(time);
}

function matches(line: LogLine, query: LogQuery): boolean {
  if (query.sinceMs === undefined && query.untilMs === undefined) return true;
  const ms = logTimeMs(line.time);
  if (query.sinceMs !== undefined && ms < query.sinceMs) return false;
  if (query.untilMs !== undefined && ms >= query.untilMs) return false;
  return true;
}

/** Filters parsed lines by the query (time, then tail). Pure. */
export function selectLines(lines: readonly LogLine[], query: LogQuery): LogLine[] {
  const selected = lines.filter((line) => matches(line, query));
  if (query.tail === undefined) return selected;
  return query.tail <= 0 ? [] : selected.slice(-query.tail);
}

/** The rotated files, oldest first, without the live one. */
function rotatedFiles(directory: string): string[] {
  const files: string[] = [];
  for (let index = MAX_ROTATED_FILES; index >= 1; index--) {
    const file = path.join(directory, `${CONTAINER_FILES.log}.${index}`);
    if (fs.existsSync(file)) files.push(file);
  }
  return files;
}

function parseText(text: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const raw of text.split('\n')) {
    const line = parseLogLine(raw);
    if (line) lines.push(line);
  }
  return lines;
}

/** Everything logged so far that matches the query, oldest first. */
export function readLogs(directory: string, query: LogQuery = {}): LogLine[] {
  const lines: LogLine[] = [];
  for (const file of [...rotatedFiles(directory), path.join(directory, CONTAINER_FILES.log)]) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    lines.push(...parseText(text));
  }
  return selectLines(lines, query);
}

/**
 * Follows container.log. Construct, call `start()` for the backlog (query applied), then `poll()`
 * whenever the file may have grown; `close()` at the end. Keeps its fd across a rotation, so the
 * end of the old file is read before the new one.
 */
export class LogFollower {
  private fd: number | undefined;
  private inode = 0;
  private offset = 0;
  private partial: Buffer = Buffer.alloc(0);
  private closed = false;

  constructor(
    private readonly directory: string,
    private readonly query: LogQuery,
    private readonly onLine: (line: LogLine) => void,
  ) {}

  private get livePath(): string {
    return path.join(this.directory, CONTAINER_FILES.log);
  }

  /** Emits the backlog (the rotated files and the live file up to now, filtered and tailed). */
  start(): void {
    const backlog: LogLine[] = [];
    for (const file of rotatedFiles(this.directory)) {
      try {
        backlog.push(...parseText(fs.readFileSync(file, 'utf8')));
      } catch {
        // Rotated away between listing and reading: its lines are in an older file now.
      }
    }
    this.openLive();
    backlog.push(...this.readAvailable());
    for (const line of selectLines(backlog, this.query)) this.onLine(line);
  }

  /** Reads what was appended since the last call (and follows a rotation). */
  poll(): void {
    if (this.closed) return;
    if (this.fd === undefined) {
      this.openLive();
      if (this.fd === undefined) return;
    }
    this.emit(this.readAvailable());
    let stat: fs.Stats | undefined;
    try {
      stat = fs.statSync(this.livePath);
    } catch {
      stat = undefined;
    }
    if (stat && stat.ino !== this.inode) {
      // Rotated: the old file is drained above; continue with the new one from its start.
      this.emit(this.readAvailable());
      this.closeFd();
      this.openLive();
      this.emit(this.readAvailable());
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeFd();
  }

  private emit(lines: LogLine[]): void {
    for (const line of lines) if (matches(line, this.query)) this.onLine(line);
  }

  private openLive(): void {
    try {
      this.fd = fs.openSync(this.livePath, 'r');
      this.inode = fs.fstatSync(this.fd).ino;
      this.offset = 0;
      this.partial = Buffer.alloc(0);
    } catch {
      this.fd = undefined;
    }
  }

  private closeFd(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private readAvailable(): LogLine[] {
    if (this.fd === undefined) return [];
    const chunks: Buffer[] = [];
    const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
    for (;;) {
      const count = fs.readSync(this.fd, buffer, 0, buffer.length, this.offset);
      if (count <= 0) break;
      this.offset += count;
      chunks.push(Buffer.from(buffer.subarray(0, count)));
    }
    if (chunks.length === 0) return [];
    const bytes = Buffer.concat([this.partial, ...chunks]);
    const end = bytes.lastIndexOf(0x0a);
    // A line the shim is still writing stays for the next read (as bytes: it may end inside a character).
    this.partial = Buffer.from(bytes.subarray(end + 1));
    return end === -1 ? [] : parseText(bytes.subarray(0, end).toString('utf8'));
  }
}
