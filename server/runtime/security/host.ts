/**
 * The host facts a container's security settings are resolved against: the kernel's highest
 * capability, the architecture and the kernel release. Read once: none of them changes while the
 * agent runs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { DEFAULT_MASKED_PATHS, DOCKER_DEFAULT_CAPABILITIES } from '../shim-protocol';
import type { HostConfig } from '../types';
import { CAPABILITY_NAMES } from './capabilities';
import { containerSecurity, securitySettingsOf, type HostSecurityFacts } from './options';
import type { ResolvedSeccomp } from './seccomp';

let facts: HostSecurityFacts | undefined;

export function hostSecurityFacts(): HostSecurityFacts {
  if (!facts) {
    let capLastCap = CAPABILITY_NAMES.length - 1;
    try {
      const value = Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
      if (Number.isInteger(value) && value > 0 && value < 64) capLastCap = value;
    } catch {
      // No /proc/sys here: assume the capabilities capstan knows.
    }
    facts = { capLastCap, nodeArch: process.arch, kernelRelease: os.release() };
  }
  return facts;
}

let masked: string[] | undefined;

/** Docker's masked paths plus, as Docker does, each CPU's thermal_throttle folder that exists. */
export function hostMaskedPaths(): string[] {
  if (!masked) {
    let cpus: string[] = [];
    try {
      cpus = fs.readdirSync('/sys/devices/system/cpu').filter((name) => /^cpu\d+$/.test(name));
    } catch {
      // No sysfs: nothing more to mask.
    }
    const throttles = cpus.map((cpu) => `/sys/devices/system/cpu/${cpu}/thermal_throttle`).filter((folder) => fs.existsSync(folder));
    masked = [...DEFAULT_MASKED_PATHS, ...throttles];
  }
  return masked;
}

/** The capability set and seccomp filter a start or exec of this container gets. */
export function securityOfContainer(hostConfig: Pick<HostConfig, 'securityOpt' | 'capAdd' | 'capDrop'>): { capabilities: string[]; seccomp: ResolvedSeccomp | undefined } {
  return containerSecurity(securitySettingsOf(hostConfig), DOCKER_DEFAULT_CAPABILITIES, hostSecurityFacts());
}
