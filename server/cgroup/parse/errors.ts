/**
 * The one error the pure parsers throw. A parse failure means the kernel gave us text we do not
 * understand (a new format, a truncated read, a corrupted fixture), so the message quotes what was
 * found; the caller adds the path, which the parsers never see.
 */
export class CgroupParseError extends Error {
  override name = 'CgroupParseError';
  readonly code = 'ERR_CGROUP_PARSE';
  /** The file format being parsed, e.g. "memory.stat" (a name, not a path). */
  readonly file: string;

  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.file = file;
  }
}

const PREVIEW_LENGTH = 40;

/** Quotes a bad value for an error message, cut short so a garbage file cannot flood the log. */
export function quote(text: string): string {
  return text.length > PREVIEW_LENGTH ? JSON.stringify(text.slice(0, PREVIEW_LENGTH)) + '…' : JSON.stringify(text);
}
