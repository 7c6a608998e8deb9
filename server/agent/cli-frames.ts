/**
 * The CLI socket's wire format (native/src/client/main.c is the other side; integers big-endian):
 *   request:  "CAPSTAN-CLI 2\n", u32 tty bits (1: stdout is a terminal, 2: stderr), u32 argc,
 *             argc x (u32 length, UTF-8 bytes), u32 envc, envc x (u32 length, "NAME=VALUE");
 *   then from the client: 's' frames (u32 signal number, SIGINT or SIGTERM);
 *   response: frames of u8 type, u32 length, payload: 'o' stdout, 'e' stderr, 'x' exit status
 *             (u32) which ends the answer, 'k' a signal number (u32): ended by that signal, which
 *             the client then raises on itself, 'n' not served (payload: why); both also end it.
 * Pure: bytes in, values out.
 */

export const REQUEST_MAGIC = Buffer.from('CAPSTAN-CLI 2\n', 'latin1');
/** The client gives larger requests to the Node CLI; the agent refuses them. Units: bytes. */
export const MAX_REQUEST_BYTES = 1024 * 1024;
/** A larger frame is split (the client accepts up to 16 MiB). Units: bytes. */
export const MAX_FRAME_PAYLOAD_BYTES = 1024 * 1024;

export interface CliRequest {
  argv: string[];
  /** The client's environment (of two entries of one name, the first). */
  env: Record<string, string>;
  stdoutIsTty: boolean;
  stderrIsTty: boolean;
}

export type ParsedRequest = { kind: 'incomplete' } | { kind: 'request'; request: CliRequest; length: number } | { kind: 'invalid'; reason: string };

type StringsRead = { kind: 'incomplete' } | { kind: 'invalid'; reason: string } | { kind: 'strings'; strings: string[]; offset: number };

/** A u32 count, then that many (u32 length, UTF-8 bytes), from `offset`. */
function readStrings(bytes: Buffer, offset: number, what: string): StringsRead {
  if (bytes.length < offset + 4) return { kind: 'incomplete' };
  const count = bytes.readUInt32BE(offset);
  offset += 4;
  if (count > MAX_REQUEST_BYTES / 4) return { kind: 'invalid', reason: `${count} ${what}s` };
  const strings: string[] = [];
  // ignoreBOM: a leading U+FEFF stays in the argument, as in Node's own argv.
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  for (let index = 0; index < count; index++) {
    if (bytes.length < offset + 4) return { kind: 'incomplete' };
    const length = bytes.readUInt32BE(offset);
    offset += 4;
    if (length > MAX_REQUEST_BYTES) return { kind: 'invalid', reason: `an ${what} of ${length} bytes` };
    if (bytes.length < offset + length) return { kind: 'incomplete' };
    try {
      strings.push(decoder.decode(bytes.subarray(offset, offset + length)));
    } catch {
      // The Node CLI gets such a string from its own process, as Node decodes it.
      return { kind: 'invalid', reason: `${what} ${index + 1} is not UTF-8` };
    }
    offset += length;
  }
  return { kind: 'strings', strings, offset };
}

/** Reads one request from the start of the bytes received so far (signal frames may follow it). */
export function parseCliRequest(bytes: Buffer): ParsedRequest {
  const magicSeen = bytes.subarray(0, REQUEST_MAGIC.length);
  if (!REQUEST_MAGIC.subarray(0, magicSeen.length).equals(magicSeen)) return { kind: 'invalid', reason: 'not a capstan CLI request (wrong magic or version)' };
  const offset = REQUEST_MAGIC.length;
  if (bytes.length < offset + 4) return tooLong(bytes) ?? { kind: 'incomplete' };
  const tty = bytes.readUInt32BE(offset);
  const args = readStrings(bytes, offset + 4, 'argument');
  if (args.kind !== 'strings') return args.kind === 'incomplete' ? tooLong(bytes) ?? args : args;
  const environment = readStrings(bytes, args.offset, 'environment entry');
  if (environment.kind !== 'strings') return environment.kind === 'incomplete' ? tooLong(bytes) ?? environment : environment;
  if (environment.offset > MAX_REQUEST_BYTES) return tooLong(bytes)!;
  const env: Record<string, string> = {};
  for (const entry of environment.strings) {
    const eq = entry.indexOf('=');
    // An entry without "=" is no variable (Node leaves such entries out of process.env too).
    // The first of two entries of one name wins, as getenv and Node's process.env take it.
    if (eq > 0 && !Object.prototype.hasOwnProperty.call(env, entry.slice(0, eq))) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return { kind: 'request', request: { argv: args.strings, env, stdoutIsTty: (tty & 1) !== 0, stderrIsTty: (tty & 2) !== 0 }, length: environment.offset };
}

function tooLong(bytes: Buffer): ParsedRequest | undefined {
  return bytes.length > MAX_REQUEST_BYTES ? { kind: 'invalid', reason: `a request of more than ${MAX_REQUEST_BYTES} bytes` } : undefined;
}

export type ClientFrame = { kind: 'signal'; signal: number };
export type ParsedClientFrames = { frames: ClientFrame[]; rest: Buffer } | { invalid: string };

/** The client's frames after its request: 's' (u32 signal number). */
export function parseClientFrames(bytes: Buffer): ParsedClientFrames {
  const frames: ClientFrame[] = [];
  let offset = 0;
  while (bytes.length >= offset + 5) {
    const type = String.fromCharCode(bytes[offset]!);
    const length = bytes.readUInt32BE(offset + 1);
    if (type !== 's' || length !== 4) return { invalid: `an unknown client frame (type 0x${bytes[offset]!.toString(16)}, ${length} bytes)` };
    if (bytes.length < offset + 9) break;
    frames.push({ kind: 'signal', signal: bytes.readUInt32BE(offset + 5) });
    offset += 9;
  }
  return { frames, rest: bytes.subarray(offset) };
}

export type FrameType = 'o' | 'e' | 'x' | 'k' | 'n';

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

/** The command ended by signal `number` (the client raises it on itself). */
export function signalFrame(number: number): Buffer[] {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(number >>> 0, 0);
  return encodeFrames('k', payload);
}
