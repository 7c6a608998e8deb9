/**
 * The CLI's registry credentials: a docker-shaped config.json, `{"auths": {"HOST[:PORT]": {"auth":
 * base64(user:pass)}}}`, at $CAPSTAN_CONFIG/config.json or ~/.capstan/config.json, mode 0600 (the
 * folder 0700). Written whole and renamed into place, so a crash never leaves half a file.
 * Parsing is pure; the reads and writes are the two functions at the end.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CliError } from './errors';

export interface Credentials {
  username: string;
  password: string;
}

type ConfigDocument = Record<string, unknown> & { auths?: Record<string, { auth?: string } & Record<string, unknown>> };

export function configPath(env: Readonly<Record<string, string | undefined>>): string {
  const directory = env['CAPSTAN_CONFIG'] && env['CAPSTAN_CONFIG'] !== '' ? env['CAPSTAN_CONFIG'] : path.join(env['HOME'] ?? os.homedir(), '.capstan');
  return path.join(directory, 'config.json');
}

/** Parses config.json text; a malformed file is an error that names it, never silently replaced. Pure. */
export function parseConfig(text: string, file: string): ConfigDocument {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CliError(`capstan: ${file} is not valid JSON (${(error as Error).message}); fix or remove it`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new CliError(`capstan: ${file} must hold a JSON object`);
  return json as ConfigDocument;
}

/** The credentials stored for `registry` (`HOST[:PORT]`), undefined when none. Pure. */
export function credentialsFor(config: ConfigDocument, registry: string): Credentials | undefined {
  const entry = config.auths?.[registry] ?? config.auths?.[`https://${registry}`] ?? config.auths?.[`http://${registry}`];
  if (!entry || typeof entry.auth !== 'string') return undefined;
  const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The config with `registry`'s entry set (credentials) or removed (undefined). Pure. */
export function withCredentials(config: ConfigDocument, registry: string, credentials: Credentials | undefined): ConfigDocument {
  const auths = { ...(config.auths ?? {}) };
  if (credentials) auths[registry] = { auth: Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64') };
  else delete auths[registry];
  return { ...config, auths };
}

/** A credentials file larger than this is refused, not read. Units: bytes. */
const MAX_CONFIG_BYTES = 1024 * 1024;

export function readConfig(file: string): ConfigDocument {
  let text: string;
  let fd: number | undefined;
  try {
    // Non-blocking and regular files only: the agent reads this file for the commands it serves
    // (server/cli/served.ts), and a FIFO or a device there must not stall or flood it.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new CliError(`capstan: ${file} is not a regular file`);
    if (stat.size > MAX_CONFIG_BYTES) throw new CliError(`capstan: ${file} is larger than ${MAX_CONFIG_BYTES} bytes`);
    text = fs.readFileSync(fd, 'utf8');
  } catch (error) {
    if (error instanceof CliError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError(`capstan: open ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  return parseConfig(text, file);
}

export function writeConfig(file: string, config: ConfigDocument): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(temporary, JSON.stringify(config, null, '\t') + '\n', { mode: 0o600 });
    fs.chmodSync(temporary, 0o600);
    fs.renameSync(temporary, file);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw new CliError(`capstan: write ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
