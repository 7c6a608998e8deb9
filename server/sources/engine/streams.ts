/**
 * The Engine API's streamed bodies, parsed without I/O: chunks in, values out, so every split a
 * socket can make is testable byte by byte.
 *
 * - GET /events is JSON, one object per line. A chunk may hold half an object or several; a line
 *   that is not JSON means whatever answers is not an engine, and ends the stream.
 * - GET /containers/{id}/logs of a container without a tty is "stdcopy" multiplexed: frames of an
 *   8-byte header [stream, 0, 0, 0, size as uint32 big-endian] and `size` bytes of payload; stream
 *   1 is stdout, 2 stderr, 3 an error from the engine itself (0, stdin, is never sent). A header may
 *   straddle two chunks. With a tty the body is the terminal's raw bytes (stdout only).
 */
import { StringDecoder } from 'node:string_decoder';
import { EngineError, firstBytes } from './errors';
import type { EngineEvent, EngineLogLine } from './types';

/** A line longer than this without a newline is not an event: the peer is not an engine. */
export const MAX_EVENT_LINE_BYTES = 1024 * 1024;

const NEWLINE = 0x0a;

/**
 * Splits a byte stream into JSON values, one per line. A line that is not JSON ends the stream:
 * the values before it are still returned, `error` is set, and later input is ignored.
 */
export class JsonLineSplitter {
  /** Set once a line was not JSON (or a line grew past MAX_EVENT_LINE_BYTES). */
  error: EngineError | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  /** The values completed by `chunk`. */
  push(chunk: Buffer): unknown[] {
    const values: unknown[] = [];
    if (this.error) return values;
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(NEWLINE, start);
      if (newline === -1) break;
      const piece = chunk.subarray(start, newline);
      const line = this.pending.length === 0 ? piece : Buffer.concat([...this.pending, piece]);
      this.pending = [];
      this.pendingBytes = 0;
      if (!this.parseInto(line, values)) return values;
      start = newline + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.pending.push(rest);
      this.pendingBytes += rest.length;
      if (this.pendingBytes > MAX_EVENT_LINE_BYTES) {
        this.error = new EngineError(
          'protocol',
          `the stream sent more than ${MAX_EVENT_LINE_BYTES} bytes without a newline, starting ${firstBytes(Buffer.concat(this.pending))}: not an engine's JSON stream`,
        );
        this.pending = [];
      }
    }
    return values;
  }

  /** At the end of the body: a last line without its newline still counts. */
  end(): unknown[] {
    const values: unknown[] = [];
    if (this.error || this.pending.length === 0) return values;
    const line = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    this.parseInto(line, values);
    return values;
  }

  private parseInto(line: Buffer, values: unknown[]): boolean {
    const text = line.toString('utf8').trim();
    if (text === '') return true;
    try {
      values.push(JSON.parse(text) as unknown);
      return true;
    } catch {
      this.error = new EngineError('protocol', `the stream sent a line that is not JSON, starting ${firstBytes(text)}: not an engine's JSON stream`);
      this.pending = [];
      return false;
    }
  }
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * One decoded value of GET /events as an EngineEvent. Docker's pre-1.22 fields (status, id, from)
 * fill in for a missing Type/Action/Actor. Throws EngineError('protocol') for anything else.
 */
export function toEngineEvent(value: unknown): EngineEvent {
  const object = record(value);
  const action = object && (typeof object['Action'] === 'string' ? object['Action'] : typeof object['status'] === 'string' ? object['status'] : undefined);
  if (!object || action === undefined) {
    throw new EngineError('protocol', `the events stream sent something that is not an event: ${firstBytes(JSON.stringify(value) ?? String(value))}`);
  }
  const actor = record(object['Actor']);
  const attributes: Record<string, string> = {};
  for (const [key, attribute] of Object.entries(record(actor?.['Attributes']) ?? {})) {
    if (typeof attribute === 'string') attributes[key] = attribute;
  }
  const time = typeof object['time'] === 'number' ? object['time'] : 0;
  const timeNano = typeof object['timeNano'] === 'number' ? object['timeNano'] : time * 1e9;
  return {
    Type: typeof object['Type'] === 'string' ? object['Type'] : 'container',
    Action: action,
    Actor: { ID: typeof actor?.['ID'] === 'string' ? actor['ID'] : typeof object['id'] === 'string' ? object['id'] : '', Attributes: attributes },
    time,
    timeNano,
  };
}

export const STDCOPY_STDIN = 0;
export const STDCOPY_STDOUT = 1;
export const STDCOPY_STDERR = 2;
/** Docker writes its own error (e.g. the log driver failing) on this stream. */
export const STDCOPY_SYSTEMERR = 3;
const HEADER_BYTES = 8;
/** A frame larger than this is a peer that is not sending stdcopy. */
export const MAX_STDCOPY_FRAME_BYTES = 64 * 1024 * 1024;

export interface StdcopyFrame {
  stream: number;
  payload: Buffer;
}

/** Demultiplexes stdcopy frames out of chunks split anywhere, headers included. */
export class StdcopyDemuxer {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): StdcopyFrame[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const frames: StdcopyFrame[] = [];
    let offset = 0;
    while (this.buffered.length - offset >= HEADER_BYTES) {
      const stream = this.buffered[offset]!;
      if (stream > STDCOPY_SYSTEMERR || this.buffered[offset + 1] !== 0 || this.buffered[offset + 2] !== 0 || this.buffered[offset + 3] !== 0) {
        throw new EngineError(
          'protocol',
          `the log stream is not multiplexed as expected: a frame header starts ${firstBytes(this.buffered.subarray(offset, offset + 16).toString('latin1'))}`,
        );
      }
      const size = this.buffered.readUInt32BE(offset + 4);
      if (size > MAX_STDCOPY_FRAME_BYTES) {
        throw new EngineError('protocol', `the log stream announced a frame of ${size} bytes (at most ${MAX_STDCOPY_FRAME_BYTES} expected)`);
      }
      if (this.buffered.length - offset - HEADER_BYTES < size) break;
      frames.push({ stream, payload: this.buffered.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + size) });
      offset += HEADER_BYTES + size;
    }
    this.buffered = offset === this.buffered.length ? Buffer.alloc(0) : this.buffered.subarray(offset);
    return frames;
  }

  /** At the end of the body. Throws EngineError('protocol') when it ended inside a frame. */
  end(): void {
    if (this.buffered.length > 0) {
      const inHeader = this.buffered.length < HEADER_BYTES;
      const left = this.buffered.length;
      this.buffered = Buffer.alloc(0);
      throw new EngineError('protocol', `the log stream ended inside a frame ${inHeader ? 'header' : 'payload'} (${left} bytes left over)`);
    }
  }
}

/** Cuts one stream into lines; a character split across chunks is kept whole. */
export class LineAssembler {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  push(data: Buffer): string[] {
    const text = this.partial + this.decoder.write(data);
    const lines = text.split('\n');
    this.partial = lines.pop()!;
    return lines;
  }

  /** What is left after the last newline, as a last line (none when nothing is left). */
  end(): string[] {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    return rest === '' ? [] : [rest];
  }
}

/** RFC 3339 as Docker and Podman prefix log lines with timestamps=1 (Podman to the second only). */
const LOG_TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

/** One line of the logs body as an EngineLogLine; the timestamp is split off when asked for. */
export function parseLogLine(stream: 'stdout' | 'stderr', line: string, options: { timestamps: boolean; tty: boolean }): EngineLogLine {
  // A terminal ends lines with \r\n.
  const text = options.tty && line.endsWith('\r') ? line.slice(0, -1) : line;
  if (options.timestamps) {
    const space = text.indexOf(' ');
    const candidate = space === -1 ? text : text.slice(0, space);
    if (LOG_TIMESTAMP.test(candidate)) return { stream, time: candidate, text: space === -1 ? '' : text.slice(space + 1) };
  }
  return { stream, text };
}

/**
 * The whole logs body: stdcopy frames (no tty) or raw bytes (tty), cut into lines per stream.
 * A frame on the engine's error stream becomes EngineError('engine') with its text.
 */
export class LogDecoder {
  private readonly demuxer: StdcopyDemuxer | undefined;
  private readonly stdout = new LineAssembler();
  private readonly stderr = new LineAssembler();

  constructor(
    private readonly options: { timestamps: boolean; tty: boolean },
    private readonly onLine: (line: EngineLogLine) => void,
  ) {
    this.demuxer = options.tty ? undefined : new StdcopyDemuxer();
  }

  push(chunk: Buffer): void {
    if (!this.demuxer) {
      this.emit('stdout', this.stdout.push(chunk));
      return;
    }
    for (const frame of this.demuxer.push(chunk)) {
      if (frame.stream === STDCOPY_SYSTEMERR) {
        throw new EngineError('engine', frame.payload.toString('utf8').trim() || 'the engine reported an error on the log stream');
      }
      const stream = frame.stream === STDCOPY_STDERR ? 'stderr' : 'stdout';
      if (this.options.timestamps) {
        // Each frame is one log message with its own timestamp: it ends a line even without a
        // newline, or the next message's timestamp would land in the middle of this one's text.
        const lines = frame.payload.toString('utf8').split('\n');
        if (lines[lines.length - 1] === '') lines.pop();
        this.emit(stream, lines);
      } else {
        this.emit(stream, (stream === 'stderr' ? this.stderr : this.stdout).push(frame.payload));
      }
    }
  }

  end(): void {
    this.demuxer?.end();
    this.emit('stdout', this.stdout.end());
    this.emit('stderr', this.stderr.end());
  }

  private emit(stream: 'stdout' | 'stderr', lines: string[]): void {
    for (const line of lines) this.onLine(parseLogLine(stream, line, this.options));
  }
}
