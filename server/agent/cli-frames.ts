/**
 * The CLI socket's wire format (native/src/client/main.c is the other side; integers big-endian):
 *   request:  "CAPSTAN-CLI 1\n", u32 tty bits (1: stdout is a terminal, 2: stderr), u32 argc,
 *             argc x (u32 length, UTF-8 bytes);
 *   response: frames of u8 type, u32 length, payload: 'o' stdout, 'e' stderr, 'x' exit status
 *             (u32) which ends the answer, 'n' not served (payload: why) which also ends it.
 * Pure: bytes in, values out.
 */

export const REQUEST_MAGIC = Buffer.from('CAPSTAN-CLI 1\n', 'latin1');
/** The client gives larger requests to the Node CLI; the agent refuses them. Units: bytes. */
export const MAX_REQUEST_BYTES = 1024 * 1024;
/** A larger frame is split (the client accepts up to 16 MiB). Units: bytes. */
export const MAX_FRAME_PAYLOAD_BYTES = 1024 * 1024;

export interface CliRequest {
  argv: string[];
  stdoutIsTty: boolean;
  stderrIsTty: boolean;
}

export type ParsedRequest = { kind: 'incomplete' } | { kind: 'request'; request: CliRequest } | { kind: 'invalid'; reason: string };

/** Reads one request from the bytes received so far. */
export function parseCliRequest(bytes: Buffer): ParsedRequest {
  if (bytes.length > MAX_REQUEST_BYTES) return { kind: 'invalid', reason: `a request of more than ${MAX_REQUEST_BYTES} bytes` };
  const magicSeen = bytes.subarray(0, REQUEST_MAGIC.length);
  if (!REQUEST_MAGIC.subarray(0, magicSeen.length).equals(magicSeen)) return { kind: 'invalid', reason: 'not a capstan CLI request (wrong magic)' };
  let offset = REQUEST_MAGIC.length;
  if (bytes.length < offset + 8) return { kind: 'incomplete' };
  const tty = bytes.readUInt32BE(offset);
  const argc = bytes.readUInt32BE(offset + 4);
  offset += 8;
  if (argc > MAX_REQUEST_BYTES / 4) return { kind: 'invalid', reason: `${argc} arguments` };
  const argv: string[] = [];
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (let index = 0; index < argc; index++) {
    if (bytes.length < offset + 4) return { kind: 'incomplete' };
    const length = bytes.readUInt32BE(offset);
    offset += 4;
    if (length > MAX_REQUEST_BYTES) return { kind: 'invalid', reason: `an argument of ${length} bytes` };
    if (bytes.length < offset + length) return { kind: 'incomplete' };
    try {
      argv.push(decoder.decode(bytes.subarray(offset, offset + length)));
    } catch {
      // The Node CLI gets such an argument from its own argv, as Node decodes it.
      return { kind: 'invalid', reason: `argument ${index + 1} is not UTF-8` };
    }
    offset += length;
  }
  if (bytes.length > offset) return { kind: 'invalid', reason: 'bytes after the request' };
  return { kind: 'request', request: { argv, stdoutIsTty: (tty & 1) !== 0, stderrIsTty: (tty & 2) !== 0 } };
}

export type FrameType = 'o' | 'e' | 'x' | 'n';

/** One frame per call; payloads past MAX_FRAME_PAYLOAD_BYTES become several frames of the type. */
export function encodeFrames(type: FrameType, payload: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  let offset = 0;
  do {
    const part = payload.subarray(offset, offset + MAX_FRAME_PAYLOAD_BYTES);
    const header = Buffer.alloc(5);
    header.write(type, 0, 'latin1');
    header.writeUInt32BE(part.length, 1);
    frames.push(header, part);
    offset += part.length;
  } while (offset < payload.length);
  return frames;
}

export function exitFrame(status: number): Buffer[] {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(status >>> 0, 0);
  return encodeFrames('x', payload);
}
