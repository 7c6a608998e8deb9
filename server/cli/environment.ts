/**
 * The container environment from `-e/--env` and `--env-file`, by docker's CLI rules (docker/cli
 * opts ReadKVEnvStrings, facts checked against Engine 20.10's CLI): the files' entries first, in
 * order, then the -e entries, so a later KEY=... wins inside the container. A bare `KEY` takes
 * the value from this process's environment and is dropped when that has none.
 *
 * An env file: one entry per line; leading white space is ignored; blank lines and lines starting
 * with `#` are skipped; `KEY=VALUE` keeps VALUE exactly (quotes and trailing spaces included);
 * a UTF-8 byte order mark before the first line is dropped; CR LF line ends are fine. A name with
 * a space or tab, a line starting with `=`, or bytes that are not UTF-8 are refused with docker's
 * words. Pure: the file's bytes come from the caller.
 */

export type EnvironmentLookup = (name: string) => string | undefined;

/** A line docker refuses; `message` is docker's ("poorly formatted environment: ..."). */
export class EnvFileError extends Error {
  override name = 'EnvFileError';
}

const NAME_WHITESPACE = /[ \t]/;
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** One `-e` value: KEY=VALUE as it is; KEY from `lookup`, or nothing. */
export function environmentEntry(entry: string, lookup: EnvironmentLookup): string[] {
  if (entry.includes('=')) return [entry];
  const value = lookup(entry);
  return value === undefined ? [] : [`${entry}=${value}`];
}

/** The entries of an env file's bytes (`fileName` only names it in messages). */
export function parseEnvFile(fileName: string, bytes: Buffer, lookup: EnvironmentLookup): string[] {
  const entries: string[] = [];
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const text = bytes.subarray(0, 3).equals(UTF8_BOM) ? bytes.subarray(3) : bytes;
  const lines: Buffer[] = [];
  for (let start = 0; start <= text.length; ) {
    let end = text.indexOf(0x0a, start);
    if (end === -1) end = text.length;
    let line = text.subarray(start, end);
    // Go's bufio.ScanLines: a final empty line is no line, and a CR before the LF is dropped.
    if (end === text.length && line.length === 0) break;
    if (line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
    lines.push(line);
    start = end + 1;
  }
  lines.forEach((bytesOfLine, index) => {
    let decoded: string;
    try {
      decoded = decoder.decode(bytesOfLine);
    } catch {
      throw new EnvFileError(`env file ${fileName} contains invalid utf8 bytes at line ${index + 1}: [${[...bytesOfLine].join(' ')}]`);
    }
    const line = decoded.replace(/^\s+/u, '');
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const name = (eq === -1 ? line : line.slice(0, eq)).replace(/^[ \t]+/, '');
    if (NAME_WHITESPACE.test(name)) throw new EnvFileError(`poorly formatted environment: variable '${name}' contains whitespaces`);
    if (name === '') throw new EnvFileError(`poorly formatted environment: no variable name on line '${line}'`);
    if (eq !== -1) entries.push(`${name}=${line.slice(eq + 1)}`);
    else entries.push(...environmentEntry(name, lookup));
  });
  return entries;
}

/**
 * `--env-file` files (read with `readFile`, which throws Node's errors) then `-e` entries. A file
 * that cannot be read is told as Go tells it: "open FILE: no such file or directory".
 */
export function containerEnvironment(
  envFiles: readonly string[],
  envFlags: readonly string[],
  lookup: EnvironmentLookup,
  readFile: (file: string) => Buffer,
): string[] {
  const entries: string[] = [];
  for (const file of envFiles) {
    let bytes: Buffer;
    try {
      bytes = readFile(file);
    } catch (error) {
      throw new EnvFileError(`open ${file}: ${goErrnoText(error as NodeJS.ErrnoException)}`);
    }
    entries.push(...parseEnvFile(file, bytes, lookup));
  }
  for (const entry of envFlags) entries.push(...environmentEntry(entry, lookup));
  return entries;
}

/** Go's strerror-like words for the errors an open can give. */
function goErrnoText(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
      return 'permission denied';
    default:
      return error.message;
  }
}
