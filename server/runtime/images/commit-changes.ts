/**
 * `commit --change` and `import --change`: Dockerfile instructions applied to an image config, as
 * docker's daemon applies them (the changes are joined by newlines and read as a Dockerfile).
 * Only the instructions that change the config are allowed: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
 * STOPSIGNAL, USER, VOLUME, WORKDIR; any other is refused in docker's words ("run is not a valid
 * change command"). Pure.
 *
 * Forms, as in a Dockerfile:
 *   CMD / ENTRYPOINT   a JSON array of strings (exec form), else the text run by /bin/sh -c
 *   VOLUME             a JSON array of strings, else paths separated by white space
 *   ENV / LABEL        KEY=VALUE pairs (quotes and backslashes as the shell reads them), or the
 *                      legacy "KEY the rest is the value" (ENV only one pair then)
 *   EXPOSE             PORT[/PROTO] words, "/tcp" when no protocol is given
 * $VAR and ${VAR} in ENV, LABEL, EXPOSE, VOLUME, WORKDIR, USER and STOPSIGNAL are the config's
 * environment at that point, as the builder expands them.
 */
import { RuntimeError } from '../errors';
import type { ImageConfig } from './types';

/** What a change can set: the runtime config of an image plus its stop signal. */
export type ChangeableConfig = ImageConfig & { StopSignal?: string };

const ALLOWED = new Set(['cmd', 'entrypoint', 'env', 'expose', 'label', 'stopsignal', 'user', 'volume', 'workdir']);

function invalid(message: string): RuntimeError {
  return new RuntimeError(400, 'invalid_change', message);
}

/** The environment as a map, for expansion. */
function environment(config: ChangeableConfig): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of config.Env ?? []) {
    const equals = entry.indexOf('=');
    if (equals > 0) map.set(entry.slice(0, equals), entry.slice(equals + 1));
  }
  return map;
}

/**
 * Splits `text` into words the way the Dockerfile shell-word reader does: white space separates,
 * single quotes keep everything, double quotes keep all but backslash escapes and $ expansion,
 * a backslash outside quotes keeps the next character. `$VAR`/`${VAR}` expand from `env` when given.
 */
export function shellWords(text: string, env?: ReadonlyMap<string, string>): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  const expand = (at: number): { value: string; next: number } => {
    // text[at] is '$'.
    if (!env) return { value: '$', next: at + 1 };
    if (text[at + 1] === '{') {
      const close = text.indexOf('}', at + 2);
      if (close < 0) throw invalid(`missing '}' in ${JSON.stringify(text)}`);
      return { value: env.get(text.slice(at + 2, close)) ?? '', next: close + 1 };
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(at + 1))?.[0];
    if (!name) return { value: '$', next: at + 1 };
    return { value: env.get(name) ?? '', next: at + 1 + name.length };
  };
  for (let i = 0; i < text.length; ) {
    const char = text[i]!;
    if (/\s/.test(char)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i += 1;
      continue;
    }
    inWord = true;
    if (char === "'") {
      const close = text.indexOf("'", i + 1);
      if (close < 0) throw invalid(`unexpected end of statement while looking for matching single-quote in ${JSON.stringify(text)}`);
      word += text.slice(i + 1, close);
      i = close + 1;
    } else if (char === '"') {
      i += 1;
      for (;;) {
        if (i >= text.length) throw invalid(`unexpected end of statement while looking for matching double-quote in ${JSON.stringify(text)}`);
        const inner = text[i]!;
        if (inner === '"') {
          i += 1;
          break;
        }
        if (inner === '\\' && i + 1 < text.length && '"\\$'.includes(text[i + 1]!)) {
          word += text[i + 1];
          i += 2;
        } else if (inner === '$') {
          const { value, next } = expand(i);
          word += value;
          i = next;
        } else {
          word += inner;
          i += 1;
        }
      }
    } else if (char === '\\' && i + 1 < text.length) {
      word += text[i + 1];
      i += 2;
    } else if (char === '$') {
      const { value, next } = expand(i);
      word += value;
      i = next;
    } else {
      word += char;
      i += 1;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** A JSON array of strings, or undefined when `text` is not one (then it is the shell form). */
function jsonForm(text: string): string[] | undefined {
  if (!text.startsWith('[')) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    return Array.isArray(parsed) && parsed.every((item) => typeof item === 'string') ? (parsed as string[]) : undefined;
  } catch {
    return undefined;
  }
}

/** KEY=VALUE pairs (or ENV's legacy "KEY VALUE"). */
function pairs(instruction: string, rest: string, env: ReadonlyMap<string, string>): Array<[string, string]> {
  const words = shellWords(rest, env);
  if (words.length === 0) throw invalid(`${instruction} requires at least one argument`);
  if (!words[0]!.includes('=')) {
    // The legacy form: the first word is the key, everything after the white space the value.
    const key = words[0]!;
    const value = rest.trimStart().slice(rest.trimStart().search(/\s|$/)).trim();
    if (value === '') throw invalid(`${instruction} must have two arguments`);
    return [[key, shellWords(value, env).join(' ')]];
  }
  return words.map((word) => {
    const equals = word.indexOf('=');
    if (equals < 0) throw invalid(`Syntax error - can't find = in ${JSON.stringify(word)}. Must be of the form: name=value`);
    if (equals === 0) throw invalid(`${instruction} names can not be blank`);
    return [word.slice(0, equals), word.slice(equals + 1)] as [string, string];
  });
}

function exactlyOne(instruction: string, rest: string, env: ReadonlyMap<string, string>): string {
  const words = shellWords(rest, env);
  if (words.length !== 1) throw invalid(`${instruction} requires exactly one argument`);
  return words[0]!;
}

/** The instructions of the changes, in order: [keyword in lower case, the rest of the line]. */
export function parseChanges(changes: readonly string[]): Array<{ keyword: string; rest: string }> {
  const instructions: Array<{ keyword: string; rest: string }> = [];
  for (const line of changes.join('\n').split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const match = /^(\S+)\s*(.*)$/s.exec(trimmed)!;
    const keyword = match[1]!.toLowerCase();
    if (!ALLOWED.has(keyword)) throw invalid(`${keyword} is not a valid change command`);
    instructions.push({ keyword, rest: match[2]! });
  }
  return instructions;
}

/** `config` with the changes applied; the input is not modified. Nothing is applied when any change is bad. */
export function applyChanges(config: ChangeableConfig, changes: readonly string[]): ChangeableConfig {
  const result: ChangeableConfig = structuredClone(config);
  let cmdSet = false;
  for (const { keyword, rest } of parseChanges(changes)) {
    const name = keyword.toUpperCase();
    const env = environment(result);
    switch (keyword) {
      case 'cmd':
      case 'entrypoint': {
        if (rest === '') throw invalid(`${name} requires at least one argument`);
        const command = jsonForm(rest) ?? ['/bin/sh', '-c', rest];
        if (keyword === 'cmd') {
          result.Cmd = command;
          cmdSet = true;
        } else {
          result.Entrypoint = command;
          // A new entrypoint drops the old default arguments, unless these changes set them.
          if (!cmdSet) delete result.Cmd;
        }
        break;
      }
      case 'env':
        for (const [key, value] of pairs(name, rest, env)) {
          // A variable set again keeps its place, as docker's builder replaces it.
          const list = result.Env ?? [];
          const position = list.findIndex((entry) => entry === key || entry.startsWith(`${key}=`));
          if (position >= 0) list[position] = `${key}=${value}`;
          else list.push(`${key}=${value}`);
          result.Env = list;
        }
        break;
      case 'label':
        result.Labels = { ...(result.Labels ?? {}), ...Object.fromEntries(pairs(name, rest, env)) };
        break;
      case 'expose': {
        const ports = shellWords(rest, env);
        if (ports.length === 0) throw invalid('EXPOSE requires at least one argument');
        const exposed = [...(result.ExposedPorts ?? [])];
        for (const port of ports) {
          const match = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp|sctp))?$/i.exec(port);
          if (!match || Number(match[1]) > 65535 || (match[2] !== undefined && Number(match[2]) > 65535)) throw invalid(`Invalid containerPort: ${port}`);
          const protocol = (match[3] ?? 'tcp').toLowerCase();
          const first = Number(match[1]);
          const last = match[2] !== undefined ? Number(match[2]) : first;
          if (last < first) throw invalid(`Invalid range specified for the Port: ${port}`);
          for (let number = first; number <= last; number++) {
            const key = `${number}/${protocol}`;
            if (!exposed.includes(key)) exposed.push(key);
          }
        }
        result.ExposedPorts = exposed;
        break;
      }
      case 'volume': {
        const volumes = jsonForm(rest) ?? shellWords(rest, env);
        if (volumes.length === 0) throw invalid('VOLUME requires at least one argument');
        const kept = [...(result.Volumes ?? [])];
        for (const volume of volumes) {
          if (volume.trim() === '') throw invalid('VOLUME specified can not be an empty string');
          if (!kept.includes(volume)) kept.push(volume);
        }
        result.Volumes = kept;
        break;
      }
      case 'workdir': {
        const directory = exactlyOne(name, rest, env);
        // A relative WORKDIR continues from the one before, as in a Dockerfile.
        result.WorkingDir = directory.startsWith('/') ? directory : `${(result.WorkingDir ?? '/').replace(/\/$/, '')}/${directory}`;
        break;
      }
      case 'user':
        result.User = exactlyOne(name, rest, env);
        break;
      case 'stopsignal':
        result.StopSignal = exactlyOne(name, rest, env);
        break;
    }
  }
  return result;
}
