/**
 * A container's security settings as the user gave them (HostConfig.SecurityOpt, CapAdd, CapDrop)
 * and what they become at each start: the capability set and the resolved seccomp filter.
 * `--security-opt` takes what Docker's daemon takes (KEY=VALUE, or the older KEY:VALUE):
 *   seccomp=unconfined        no filter
 *   seccomp=builtin           the default profile (also what no option means)
 *   seccomp=<profile JSON>    a profile in Docker's format (the CLI sends a file's content)
 *   no-new-privileges[=true]  always in force in capstan
 * Pure: the host's facts (cap_last_cap, architecture, kernel) are arguments.
 */
import { badRequest, quoteInput } from '../errors';
import { tweakCapabilities } from './capabilities';
import { DEFAULT_SECCOMP_PROFILE } from './seccomp-default';
import { parseSeccompProfile, resolveSeccompProfile, type ResolvedSeccomp, type SeccompProfile } from './seccomp';

export const SECCOMP_UNCONFINED = 'unconfined';
export const SECCOMP_BUILTIN = 'builtin';

/** Stored in HostConfig; the lists are empty when not given. */
export interface SecuritySettings {
  securityOpt: string[];
  /** Normalized names (CAP_SYS_ADMIN) or ALL. */
  capAdd: string[];
  capDrop: string[];
}

export interface HostSecurityFacts {
  /** /proc/sys/kernel/cap_last_cap. Units: capability number. */
  capLastCap: number;
  /** process.arch. */
  nodeArch: string;
  /** os.release(). */
  kernelRelease: string;
}

/** The seccomp profile the options ask for; undefined = unconfined. */
export function seccompProfileOf(securityOpt: readonly string[]): SeccompProfile | undefined {
  let profile: SeccompProfile | undefined = DEFAULT_SECCOMP_PROFILE;
  for (const option of securityOpt) {
    const { key, value } = splitOption(option);
    if (key !== 'seccomp') continue;
    if (value === SECCOMP_UNCONFINED) profile = undefined;
    else if (value === SECCOMP_BUILTIN) profile = DEFAULT_SECCOMP_PROFILE;
    else profile = parseSeccompProfile(value ?? '');
  }
  return profile;
}

function splitOption(option: string): { key: string; value: string | undefined } {
  const separator = option.includes('=') ? '=' : option.includes(':') ? ':' : undefined;
  if (separator === undefined) return { key: option, value: undefined };
  const at = option.indexOf(separator);
  return { key: option.slice(0, at), value: option.slice(at + 1) };
}

/** Checks each --security-opt (a custom profile completely); returns them as given. */
export function checkSecurityOptions(securityOpt: readonly string[]): string[] {
  for (const option of securityOpt) {
    const { key, value } = splitOption(option);
    if (key === 'no-new-privileges') {
      if (value === undefined || /^(1|t|T|TRUE|true|True)$/.test(value)) continue;
      if (/^(0|f|F|FALSE|false|False)$/.test(value)) {
        throw badRequest('invalid_security_opt', 'capstan always runs containers with no-new-privileges: "no-new-privileges=false" cannot be honoured');
      }
      throw badRequest('invalid_security_opt', `invalid --security-opt 2: ${quoteInput(option, 80)}`);
    }
    if (value === undefined || value === '') throw badRequest('invalid_security_opt', `invalid --security-opt: ${quoteInput(option, 80)}`);
    if (key === 'apparmor' || key === 'label') {
      throw badRequest('invalid_security_opt', `--security-opt ${key}: capstan has no AppArmor or SELinux support (it supports seccomp and no-new-privileges)`);
    }
    if (key !== 'seccomp') throw badRequest('invalid_security_opt', `invalid --security-opt 2: ${quoteInput(option, 80)}`);
  }
  seccompProfileOf(securityOpt);
  return [...securityOpt];
}

/** What the shim applies at a start (or an exec) of a container with these settings. */
export function containerSecurity(
  settings: SecuritySettings,
  defaultCapabilities: readonly string[],
  facts: HostSecurityFacts,
): { capabilities: string[]; seccomp: ResolvedSeccomp | undefined } {
  const capabilities = tweakCapabilities(defaultCapabilities, settings.capAdd, settings.capDrop, facts.capLastCap);
  const profile = seccompProfileOf(settings.securityOpt);
  const seccomp = profile ? resolveSeccompProfile(profile, { capabilities, nodeArch: facts.nodeArch, kernelRelease: facts.kernelRelease }) : undefined;
  return { capabilities, seccomp };
}

/** A record's stored settings (older spec.json files have none: Docker's defaults). */
export function securitySettingsOf(hostConfig: { securityOpt?: string[]; capAdd?: string[]; capDrop?: string[] }): SecuritySettings {
  return { securityOpt: hostConfig.securityOpt ?? [], capAdd: hostConfig.capAdd ?? [], capDrop: hostConfig.capDrop ?? [] };
}
