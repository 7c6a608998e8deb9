/**
 * Seccomp profiles in Docker's JSON format (moby profiles/seccomp: `defaultAction`, `archMap` or
 * `architectures`, `syscalls[]` with `includes` / `excludes` by capability, architecture and
 * kernel), checked and then resolved for one container into the concrete rule list the shim loads
 * with libseccomp (ShimConfig.seccomp). Pure: the container's capabilities, the host's
 * architecture and kernel release come in as arguments.
 *
 * Resolution follows moby's setupSeccomp (which rules apply) and then runc's conversion (what
 * libseccomp is given): a rule whose action equals the default is dropped, conditions on the same
 * argument become one rule each (libseccomp takes one comparison per argument and rule), ERRNO and
 * TRACE without errnoRet answer EPERM.
 */
import { badRequest, type RuntimeError } from '../errors';

export const SECCOMP_ACTIONS = [
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
] as const;
export type SeccompAction = (typeof SECCOMP_ACTIONS)[number];

export const SECCOMP_OPERATORS = ['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'] as const;
export type SeccompOperator = (typeof SECCOMP_OPERATORS)[number];

/** One comparison on a syscall argument. MASKED_EQ: (arg & value) == valueTwo. */
export interface SeccompArg {
  /** 0 to 5. */
  index: number;
  value: number;
  valueTwo?: number;
  op: SeccompOperator;
}

/** A rule applies when every given part of `includes` matches and no part of `excludes` does. */
export interface SeccompFilter {
  /** Capability names (CAP_SYS_ADMIN) checked against the container's bounding set. */
  caps?: string[];
  /** Architectures as moby names them: amd64, x86, x32, arm, arm64, s390x, ... */
  arches?: string[];
  /** "<kernel>.<major>", e.g. "4.8". */
  minKernel?: string;
}

export interface SeccompRule {
  names?: string[];
  /** Older profiles' single name. */
  name?: string;
  action: SeccompAction;
  /** The errno for SCMP_ACT_ERRNO / SCMP_ACT_TRACE. */
  errnoRet?: number;
  args?: SeccompArg[] | null;
  comment?: string;
  includes?: SeccompFilter;
  excludes?: SeccompFilter;
}

export interface SeccompProfile {
  /** '' only with no syscalls: no filter at all, as moby reads such a profile. */
  defaultAction: SeccompAction | '';
  defaultErrnoRet?: number;
  /** libseccomp architectures as SCMP_ARCH_X86_64 etc. Either this or archMap. */
  architectures?: string[];
  archMap?: Array<{ architecture: string; subArchitectures: string[] | null }>;
  syscalls?: SeccompRule[];
}

/** What the shim loads (ShimConfig.seccomp): everything decided, names resolved by libseccomp. */
export interface ResolvedSeccomp {
  defaultAction: SeccompAction;
  /** Used when defaultAction is ERRNO or TRACE. */
  defaultErrno: number;
  /** libseccomp's names ("x86_64", "x86", "x32"); the native one is always in the filter. */
  architectures: string[];
  rules: ResolvedSeccompRule[];
}

export interface ResolvedSeccompRule {
  /** Syscall names; names libseccomp does not know on this machine are skipped, as runc does. */
  names: string[];
  action: SeccompAction;
  /** Used when the action is ERRNO or TRACE. */
  errno: number;
  /** At most one comparison per argument index. */
  args: Array<{ index: number; op: SeccompOperator; value: number; valueTwo: number }>;
}

/** The container and host facts resolution depends on. */
export interface SeccompTarget {
  /** The container's bounding set (CAP_* names). */
  capabilities: readonly string[];
  /** Node's process.arch ("x64", "arm64", ...). */
  nodeArch: string;
  /** os.release(), e.g. "6.1.0-18-amd64". */
  kernelRelease: string;
}

const EPERM = 1;
const ERRNO_MAX = 4095;
const LAST_ARGUMENT_INDEX = 5;

/** Node's arch → the name moby's `arches` filters use (Go's GOARCH through goToNative). */
const MOBY_ARCH: Record<string, string> = {
  ia32: 'x86',
  x64: 'amd64',
  arm: 'arm',
  arm64: 'arm64',
  loong64: 'loongarch64',
  mips: 'mips',
  mipsel: 'mipsle',
  ppc: 'ppc',
  ppc64: 'ppc64le',
  riscv64: 'riscv64',
  s390: 's390',
  s390x: 's390x',
};

/** moby's arch name → libseccomp's SCMP_ARCH_ constant for the native architecture. */
const SECCOMP_ARCH: Record<string, string> = {
  x86: 'SCMP_ARCH_X86',
  amd64: 'SCMP_ARCH_X86_64',
  arm: 'SCMP_ARCH_ARM',
  arm64: 'SCMP_ARCH_AARCH64',
  loongarch64: 'SCMP_ARCH_LOONGARCH64',
  ppc: 'SCMP_ARCH_PPC',
  ppc64le: 'SCMP_ARCH_PPC64LE',
  riscv64: 'SCMP_ARCH_RISCV64',
  s390: 'SCMP_ARCH_S390',
  s390x: 'SCMP_ARCH_S390X',
};

function invalid(why: string): RuntimeError {
  return badRequest('invalid_seccomp_profile', `invalid seccomp profile: ${why}`);
}

/**
 * A profile from its JSON text (--security-opt seccomp=<json>, as Docker's CLI sends a file's
 * content), checked completely, so that a bad profile is refused at create and never at a start.
 */
export function parseSeccompProfile(text: string): SeccompProfile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw badRequest('invalid_seccomp_profile', `Decoding seccomp profile failed: ${(error as Error).message}`);
  }
  return checkProfile(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringList(value: unknown, where: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string' && item !== '' && !item.includes('\0'))) {
    throw invalid(`${where} must be an array of names`);
  }
  return value as string[];
}

function action(value: unknown, where: string): SeccompAction {
  if (typeof value !== 'string' || !(SECCOMP_ACTIONS as readonly string[]).includes(value)) {
    if (value === 'SCMP_ACT_NOTIFY') throw invalid(`${where}: SCMP_ACT_NOTIFY needs a seccomp agent, which capstan does not run`);
    throw invalid(`${where}: unknown action ${JSON.stringify(value)} (one of ${SECCOMP_ACTIONS.join(', ')})`);
  }
  return value as SeccompAction;
}

function errnoOf(value: unknown, where: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > ERRNO_MAX) throw invalid(`${where} must be an errno from 0 to ${ERRNO_MAX}`);
  return value;
}

function argumentValue(value: unknown, where: string): number {
  if (value === undefined || value === null) return 0;
  // JSON numbers beyond 2^53 have already lost digits when parsed: refuse them rather than compare with another number.
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw invalid(`${where} must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}`);
  return value;
}

/** "<kernel>.<major>" (moby's KernelVersion). */
function parseMinKernel(text: unknown, where: string): string | undefined {
  if (text === undefined || text === null || text === '') return undefined;
  const parts = typeof text === 'string' ? text.split('.') : [];
  if (parts.length !== 2 || !parts.every((part) => /^\d{1,3}$/.test(part)) || Number(parts[0]) > 255 || Number(parts[1]) > 255) {
    throw invalid(`${where}: invalid kernel version ${JSON.stringify(text)}, expected "<kernel>.<major>"`);
  }
  if (Number(parts[0]) === 0 && Number(parts[1]) === 0) throw invalid(`${where}: invalid kernel version "0.0", version cannot be 0.0`);
  return text as string;
}

function checkFilter(value: unknown, where: string): SeccompFilter | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw invalid(`${where} must be an object`);
  const filter: SeccompFilter = {};
  const caps = stringList(value['caps'], `${where}.caps`);
  if (caps) filter.caps = caps;
  const arches = stringList(value['arches'], `${where}.arches`);
  if (arches) filter.arches = arches;
  const minKernel = parseMinKernel(value['minKernel'], `${where}.minKernel`);
  if (minKernel) filter.minKernel = minKernel;
  return filter;
}

function checkRule(value: unknown, where: string): SeccompRule {
  if (!isObject(value)) throw invalid(`${where} must be an object`);
  const rule: SeccompRule = { action: action(value['action'], `${where}.action`) };
  const names = stringList(value['names'], `${where}.names`);
  const name = value['name'];
  if (name !== undefined && name !== null && name !== '') {
    if (names && names.length > 0) throw invalid(`both 'name' and 'names' are specified in ${where}, use either 'name' or 'names'`);
    if (typeof name !== 'string' || name.includes('\0')) throw invalid(`${where}.name must be a string`);
    rule.names = [name];
  } else {
    if (!names || names.length === 0) throw invalid(`${where} names no syscall`);
    rule.names = names;
  }
  const errnoRet = errnoOf(value['errnoRet'], `${where}.errnoRet`);
  if (errnoRet !== undefined) {
    if (rule.action !== 'SCMP_ACT_ERRNO' && rule.action !== 'SCMP_ACT_TRACE') throw invalid(`${where}: errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE`);
    rule.errnoRet = errnoRet;
  }
  const args = value['args'];
  if (args !== undefined && args !== null) {
    if (!Array.isArray(args)) throw invalid(`${where}.args must be an array`);
    rule.args = args.map((arg: unknown, index): SeccompArg => {
      const at = `${where}.args[${index}]`;
      if (!isObject(arg)) throw invalid(`${at} must be an object`);
      const argIndex = arg['index'];
      if (typeof argIndex !== 'number' || !Number.isInteger(argIndex) || argIndex < 0 || argIndex > LAST_ARGUMENT_INDEX) {
        throw invalid(`${at}.index must be an argument number from 0 to ${LAST_ARGUMENT_INDEX}`);
      }
      const op = arg['op'];
      if (typeof op !== 'string' || !(SECCOMP_OPERATORS as readonly string[]).includes(op)) {
        throw invalid(`${at}: unknown operator ${JSON.stringify(op)} (one of ${SECCOMP_OPERATORS.join(', ')})`);
      }
      return { index: argIndex, value: argumentValue(arg['value'], `${at}.value`), valueTwo: argumentValue(arg['valueTwo'], `${at}.valueTwo`), op: op as SeccompOperator };
    });
  }
  const includes = checkFilter(value['includes'], `${where}.includes`);
  if (includes) rule.includes = includes;
  const excludes = checkFilter(value['excludes'], `${where}.excludes`);
  if (excludes) rule.excludes = excludes;
  if (typeof value['comment'] === 'string') rule.comment = value['comment'];
  return rule;
}

/** Checks a decoded profile; also used on the built-in one by the tests. */
export function checkProfile(value: unknown): SeccompProfile {
  if (!isObject(value)) throw invalid('the profile must be a JSON object');
  const syscalls = value['syscalls'];
  if (syscalls !== undefined && syscalls !== null && !Array.isArray(syscalls)) throw invalid('syscalls must be an array');
  const rules = ((syscalls as unknown[] | null | undefined) ?? []).map((rule, index) => checkRule(rule, `syscalls[${index}]`));
  const profile: SeccompProfile = {
    defaultAction: value['defaultAction'] === undefined || value['defaultAction'] === '' ? '' : action(value['defaultAction'], 'defaultAction'),
    syscalls: rules,
  };
  const defaultErrnoRet = errnoOf(value['defaultErrnoRet'], 'defaultErrnoRet');
  if (defaultErrnoRet !== undefined) profile.defaultErrnoRet = defaultErrnoRet;
  const architectures = stringList(value['architectures'], 'architectures');
  const archMap = value['archMap'];
  if (architectures && architectures.length > 0 && Array.isArray(archMap) && archMap.length > 0) {
    throw invalid("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'");
  }
  if (architectures) profile.architectures = architectures.map((arch) => checkArchitecture(arch, 'architectures'));
  if (archMap !== undefined && archMap !== null) {
    if (!Array.isArray(archMap)) throw invalid('archMap must be an array');
    profile.archMap = archMap.map((entry: unknown, index) => {
      const where = `archMap[${index}]`;
      if (!isObject(entry) || typeof entry['architecture'] !== 'string') throw invalid(`${where} must be {"architecture": ..., "subArchitectures": [...]}`);
      const subArchitectures = stringList(entry['subArchitectures'], `${where}.subArchitectures`) ?? null;
      return {
        architecture: checkArchitecture(entry['architecture'], `${where}.architecture`),
        subArchitectures: subArchitectures ? subArchitectures.map((arch) => checkArchitecture(arch, `${where}.subArchitectures`)) : null,
      };
    });
  }
  return profile;
}

function checkArchitecture(name: string, where: string): string {
  if (!/^SCMP_ARCH_[A-Z0-9_]+$/.test(name)) throw invalid(`${where}: ${JSON.stringify(name)} is not an architecture (SCMP_ARCH_X86_64, SCMP_ARCH_AARCH64, ...)`);
  return name;
}

/** moby's kernel comparison: "<kernel>.<major>" against the host's release, minor and suffix ignored. */
function kernelAtLeast(release: string, minimum: string): boolean {
  const [kernel = 0, major = 0] = (release.match(/^(\d+)\.(\d+)/)?.slice(1) ?? []).map(Number);
  const [wantKernel = 0, wantMajor = 0] = minimum.split('.').map(Number);
  return kernel > wantKernel || (kernel === wantKernel && major >= wantMajor);
}

function applies(rule: SeccompRule, arch: string, target: SeccompTarget): boolean {
  const { excludes, includes } = rule;
  if (excludes) {
    if (excludes.arches?.includes(arch)) return false;
    if (excludes.caps?.some((cap) => target.capabilities.includes(cap))) return false;
    if (excludes.minKernel && kernelAtLeast(target.kernelRelease, excludes.minKernel)) return false;
  }
  if (includes) {
    if (includes.arches && includes.arches.length > 0 && !includes.arches.includes(arch)) return false;
    if (includes.caps && !includes.caps.every((cap) => target.capabilities.includes(cap))) return false;
    if (includes.minKernel && !kernelAtLeast(target.kernelRelease, includes.minKernel)) return false;
  }
  return true;
}

/** SCMP_ARCH_X86_64 → "x86_64", as libseccomp's seccomp_arch_resolve_name spells them. */
function libseccompArchName(constant: string): string {
  return constant.slice('SCMP_ARCH_'.length).toLowerCase();
}

function usesErrno(action: SeccompAction): boolean {
  return action === 'SCMP_ACT_ERRNO' || action === 'SCMP_ACT_TRACE';
}

/**
 * The rules that apply to this container, ready for libseccomp; undefined when the profile
 * disables seccomp (no default action and no rules, as moby reads an empty profile).
 */
export function resolveSeccompProfile(profile: SeccompProfile, target: SeccompTarget): ResolvedSeccomp | undefined {
  const syscalls = profile.syscalls ?? [];
  const defaultAction = profile.defaultAction;
  if (defaultAction === '' && syscalls.length === 0) return undefined;
  if (defaultAction === '') throw invalid('defaultAction is required when syscalls are listed');
  const arch = MOBY_ARCH[target.nodeArch] ?? target.nodeArch;
  const native = SECCOMP_ARCH[arch];
  const architectures = new Set<string>((profile.architectures ?? []).map(libseccompArchName));
  const mapped = profile.archMap?.find((entry) => entry.architecture === native);
  if (mapped) for (const constant of [mapped.architecture, ...(mapped.subArchitectures ?? [])]) architectures.add(libseccompArchName(constant));

  const defaultErrno = profile.defaultErrnoRet ?? EPERM;
  const rules: ResolvedSeccompRule[] = [];
  for (const rule of syscalls) {
    if (!applies(rule, arch, target)) continue;
    const errno = usesErrno(rule.action) ? (rule.errnoRet ?? EPERM) : 0;
    // libseccomp refuses a rule that repeats the filter's default; runc leaves such rules out.
    if (rule.action === defaultAction && (!usesErrno(rule.action) || errno === defaultErrno)) continue;
    const names = rule.names ?? (rule.name ? [rule.name] : []);
    const args = (rule.args ?? []).map((arg) => ({ index: arg.index, op: arg.op, value: arg.value, valueTwo: arg.valueTwo ?? 0 }));
    const indexes = args.map((arg) => arg.index);
    if (new Set(indexes).size === indexes.length) {
      rules.push({ names, action: rule.action, errno, args });
    } else {
      // Two comparisons on one argument: libseccomp cannot AND them in one rule; runc adds one rule each.
      for (const arg of args) rules.push({ names, action: rule.action, errno, args: [arg] });
    }
  }
  return { defaultAction, defaultErrno: usesErrno(defaultAction) ? defaultErrno : 0, architectures: [...architectures], rules };
}
