/**
 * A small command-line parser with the conventions of docker's (spf13/pflag) so that flags
 * typed for docker work unchanged: `-a`, grouped `-aq`, `--format X`, `--format=X`, `-fX`,
 * `--all=false`, flags before or after positionals, `--` to end flags, repeated flags (a list
 * flag collects every value; a plain string flag keeps the last). Pure: no I/O.
 */

export type FlagKind = 'bool' | 'string' | 'list';

export interface FlagSpec {
  /** Long name without dashes: "no-stream". */
  name: string;
  /** One-letter short name without the dash: "a". */
  short?: string;
  kind: FlagKind;
  description: string;
  /** Placeholder shown in help ("string", "list"); defaults from kind. */
  valueName?: string;
  /** Accepted but left out of the command's help (e.g. global flags repeated after the command). */
  hidden?: boolean;
  /**
   * Checks a value as the flag's type does when docker's CLI parses it (pflag's Set): throws an
   * Error saying what is wrong ("invalid size: 'x'"), which becomes docker's
   * `invalid argument "x" for "-m, --memory" flag: invalid size: 'x'`.
   */
  validate?: (value: string) => void;
}

export type FlagValue = boolean | string | string[];

export interface ParsedArgs {
  /** Values by long name; flags not given are absent. */
  flags: Map<string, FlagValue>;
  positionals: string[];
}

/**
 * A command-line mistake. `flag`: a flag the parser refused (unknown, missing or bad value), which
 * docker reports with "See '... --help'." and exit status 125; `arguments`: the wrong number of
 * arguments, reported with the usage line and exit status 1 (docker 20.10, measured).
 */
export class UsageError extends Error {
  override name = 'UsageError';
  constructor(
    message: string,
    readonly kind: 'flag' | 'arguments' = 'flag',
  ) {
    super(message);
  }
}

/** The name pflag puts in its messages: "-m, --memory", or "--cpus" for a flag with no short name. */
export function flagLabel(spec: Pick<FlagSpec, 'name' | 'short'>): string {
  return spec.short === undefined ? `--${spec.name}` : `-${spec.short}, --${spec.name}`;
}

/** pflag's words for a value its type refused. */
export function invalidFlagValue(spec: Pick<FlagSpec, 'name' | 'short'>, value: string, reason: string): UsageError {
  return new UsageError(`invalid argument ${goQuote(value)} for ${goQuote(flagLabel(spec))} flag: ${reason}`);
}

/** Go's %q for the printable text flags hold. */
function goQuote(text: string): string {
  return JSON.stringify(text);
}

export interface ParseOptions {
  /** Stop at the first positional and return it and everything after it as positionals (for "capstan [global flags] COMMAND ..."). */
  stopAtFirstPositional?: boolean;
}

/** strconv.ParseBool's accepted spellings. */
function parseBool(spec: FlagSpec, text: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  throw invalidFlagValue(spec, text, `strconv.ParseBool: parsing ${goQuote(text)}: invalid syntax`);
}

function store(flags: Map<string, FlagValue>, spec: FlagSpec, value: boolean | string): void {
  if (typeof value === 'string' && spec.validate) {
    try {
      spec.validate(value);
    } catch (error) {
      throw invalidFlagValue(spec, value, (error as Error).message);
    }
  }
  if (spec.kind === 'list') {
    const previous = flags.get(spec.name);
    flags.set(spec.name, [...(Array.isArray(previous) ? previous : []), value as string]);
  } else {
    flags.set(spec.name, value);
  }
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], options: ParseOptions = {}): ParsedArgs {
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short !== undefined).map((s) => [s.short!, s]));
  const flags = new Map<string, FlagValue>();
  const positionals: string[] = [];

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const spec = byLong.get(name);
      if (!spec) throw new UsageError(`unknown flag: --${name}`);
      if (spec.kind === 'bool') {
        store(flags, spec, eq < 0 ? true : parseBool(spec, arg.slice(eq + 1)));
      } else if (eq >= 0) {
        store(flags, spec, arg.slice(eq + 1));
      } else {
        if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: --${name}`);
        store(flags, spec, argv[++i]!);
      }
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // One or more short flags: "-a", "-aq", "-fVALUE", "-f VALUE", "-f=VALUE".
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j]!;
        const spec = byShort.get(letter);
        if (!spec) throw new UsageError(`unknown shorthand flag: '${letter}' in ${arg}`);
        if (spec.kind === 'bool') {
          if (arg[j + 1] === '=') {
            store(flags, spec, parseBool(spec, arg.slice(j + 2)));
            break;
          }
          store(flags, spec, true);
          continue;
        }
        let value = arg.slice(j + 1);
        if (value.startsWith('=')) value = value.slice(1);
        else if (value === '') {
          if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: '${letter}' in -${letter}`);
          value = argv[++i]!;
        }
        store(flags, spec, value);
        break;
      }
      continue;
    }
    if (options.stopAtFirstPositional) {
      positionals.push(...argv.slice(i));
      break;
    }
    positionals.push(arg);
  }
  return { flags, positionals };
}

export function flagBool(args: ParsedArgs, name: string): boolean {
  return args.flags.get(name) === true;
}

export function flagString(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function flagList(args: ParsedArgs, name: string): string[] {
  const v = args.flags.get(name);
  return Array.isArray(v) ? v : [];
}

/** The "Options:" block of a help text, laid out like cobra's. */
export function formatFlagHelp(allSpecs: readonly FlagSpec[]): string {
  const specs = allSpecs.filter((s) => !s.hidden);
  if (specs.length === 0) return '';
  const left = specs.map((s) => {
    const short = s.short ? `-${s.short}, ` : '    ';
    const value = s.kind === 'bool' ? '' : ' ' + (s.valueName ?? (s.kind === 'list' ? 'list' : 'string'));
    return `  ${short}--${s.name}${value}`;
  });
  const width = Math.max(...left.map((l) => l.length)) + 3;
  return specs
    .map((s, i) => {
      const [first, ...rest] = s.description.split('\n');
      return [left[i]!.padEnd(width) + first, ...rest.map((line) => ' '.repeat(width) + line)].join('\n');
    })
    .join('\n');
}
