/**
 * The byte stream of an attached session (`run -it`, `exec`, `run` in the foreground) between the
 * agent and the CLI, after the HTTP Upgrade. Both directions carry frames shaped like docker's
 * stdcopy: one byte of stream, three zero bytes, a big-endian 32-bit length, then the payload.
 *
 *   CLI → agent:  0 stdin bytes          3 control JSON: {"type":"resize","rows","cols"} | {"type":"stdin-end"}
 *   agent → CLI:  1 stdout   2 stderr    3 control JSON: {"type":"exit","exitCode"} | {"type":"error","message","exitCode"?}
 *                                                       | {"type":"created","id","warnings"} (run: first)
 *
 * Framing both ways keeps stdout apart from stderr without a tty, and lets the exit code, errors,
 * window sizes and end-of-input travel on the same connection. Pure.
 */

export const STREAM_STDIN = 0;
export const STREAM_STDOUT = 1;
export const STREAM_STDERR = 2;
export const STREAM_CONTROL = 3;

/** Largest payload of one frame. Units: bytes. */
export const MAX_FRAME_BYTES = 1024 * 1024;
const HEADER_BYTES = 8;

export type ControlFrame =
  | { type: 'resize'; rows: number; cols: number }
  | { type: 'stdin-end' }
  | { type: 'exit'; exitCode: number }
  | { type: 'created'; id: string; warnings: string[] }
  | { type: 'error'; message: string; exitCode?: number };

export function encodeFrame(stream: number, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const header = Buffer.alloc(HEADER_BYTES);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

export function encodeControl(message: ControlFrame): Buffer {
  return encodeFrame(STREAM_CONTROL, JSON.stringify(message));
}

/** Splits a byte stream into frames, whatever the chunk boundaries. */
export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (stream: number, payload: Buffer) => void) {}

  /** Throws on a frame larger than MAX_FRAME_BYTES (a broken or hostile peer). */
  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= HEADER_BYTES) {
      const length = this.pending.readUInt32BE(4);
      if (length > MAX_FRAME_BYTES) throw new Error(`frame of ${length} bytes is larger than ${MAX_FRAME_BYTES}`);
      if (this.pending.length < HEADER_BYTES + length) return;
      const stream = this.pending[0]!;
      const payload = this.pending.subarray(HEADER_BYTES, HEADER_BYTES + length);
      this.pending = this.pending.subarray(HEADER_BYTES + length);
      this.onFrame(stream, Buffer.from(payload));
    }
  }
}

/** A control payload, or undefined when it is not one we know. */
export function parseControl(payload: Buffer): ControlFrame | undefined {
  try {
    const value = JSON.parse(payload.toString('utf8')) as Partial<Record<string, unknown>>;
    switch (value['type']) {
      case 'resize':
        return Number.isInteger(value['rows']) && Number.isInteger(value['cols'])
          ? { type: 'resize', rows: value['rows'] as number, cols: value['cols'] as number }
          : undefined;
      case 'stdin-end':
        return { type: 'stdin-end' };
      case 'created':
        return typeof value['id'] === 'string'
          ? { type: 'created', id: value['id'], warnings: Array.isArray(value['warnings']) ? value['warnings'].map(String) : [] }
          : undefined;
      case 'exit':
        return Number.isInteger(value['exitCode']) ? { type: 'exit', exitCode: value['exitCode'] as number } : undefined;
      case 'error':
        return typeof value['message'] === 'string'
          ? { type: 'error', message: value['message'], ...(Number.isInteger(value['exitCode']) ? { exitCode: value['exitCode'] as number } : {}) }
          : undefined;
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}
