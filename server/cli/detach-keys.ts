/**
 * `--detach-keys` (docker's format: comma-separated keys, each one character or `ctrl-X` with X
 * one of a-z @ [ \ ] ^ _, or DEL; default ctrl-p,ctrl-q) and the filter that watches a terminal's input
 * for the sequence, as docker's attach does: bytes that start the sequence are held back; when the
 * next byte does not continue it they go on with that byte; the whole sequence detaches and is
 * never sent. Pure.
 */

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/** A --detach-keys value docker would refuse; the message is docker's. */
export class DetachKeysError extends Error {
  override name = 'DetachKeysError';
}

const CONTROL_PUNCTUATION: Readonly<Record<string, number>> = { '@': 0, '[': 27, '\\': 28, ']': 29, '^': 30, _: 31 };

/** The byte sequence of a --detach-keys value. */
export function parseDetachKeys(text: string): Buffer {
  const bytes: number[] = [];
  for (const key of text.split(',')) {
    if (key.length === 1 && key.charCodeAt(0) < 0x80) {
      bytes.push(key.charCodeAt(0));
      continue;
    }
    const letter = key.length === 6 && key.startsWith('ctrl-') ? key[5]! : undefined;
    const code = key === 'DEL' ? 0x7f : letter === undefined ? undefined : letter >= 'a' && letter <= 'z' ? letter.charCodeAt(0) - 0x60 : CONTROL_PUNCTUATION[letter];
    if (code === undefined) throw new DetachKeysError(`Invalid detach keys (${text}) provided`);
    bytes.push(code);
  }
  return Buffer.from(bytes);
}

/** Watches input for the detach sequence across chunks. */
export class DetachKeyFilter {
  /** How many bytes of the sequence the input has matched so far (held back). */
  private matched = 0;

  constructor(private readonly sequence: Buffer) {}

  /** The bytes to pass on from `chunk`, and whether the sequence was completed (the rest is dropped). */
  push(chunk: Buffer): { forward: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.sequence[this.matched]) {
        this.matched++;
        if (this.matched === this.sequence.length) {
          this.matched = 0;
          return { forward: Buffer.from(out), detach: true };
        }
        continue;
      }
      // Not the next key: what was held goes on, then this byte (which may start a new match).
      for (let index = 0; index < this.matched; index++) out.push(this.sequence[index]!);
      this.matched = 0;
      if (byte === this.sequence[0]) {
        this.matched = 1;
        if (this.sequence.length === 1) return { forward: Buffer.from(out), detach: true };
      } else out.push(byte);
    }
    return { forward: Buffer.from(out), detach: false };
  }
}
