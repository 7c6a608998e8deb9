/**
 * `--cap-add` / `--cap-drop` with Docker's rules: names are case-insensitive and the CAP_ prefix
 * is optional (docker/cli opts.NormalizeCapability), ALL stands for every capability the kernel
 * knows, an added capability wins over the same one dropped (opts.EffectiveCapAddCapDrop), and the
 * daemon's TweakCapabilities builds the set from Docker's default one. Pure; the kernel's highest
 * capability (/proc/sys/kernel/cap_last_cap) is an argument.
 */
import { badRequest } from '../errors';

/** capability(7) names, by number (CAP_CHOWN is 0). */
export const CAPABILITY_NAMES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW',
  'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD',
  'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

const ALL = 'ALL';

/** "sys_admin" → "CAP_SYS_ADMIN"; "all" → "ALL". */
export function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === ALL) return ALL;
  return upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
}

/**
 * What Docker's CLI sends for --cap-add / --cap-drop: normalized, ALL trumping the rest of its
 * list, a capability both added and dropped only added, each list sorted.
 */
export function effectiveCapAddCapDrop(add: readonly string[], drop: readonly string[]): { capAdd: string[]; capDrop: string[] } {
  let adds = new Set(add.map(normalizeCapability));
  let drops = new Set(drop.map(normalizeCapability));
  if (adds.has(ALL)) adds = new Set([ALL]);
  if (drops.has(ALL)) drops = new Set([ALL]);
  const capDrop = [...drops].filter((name) => !adds.has(name)).sort();
  return { capAdd: [...adds].sort(), capDrop };
}

/** The capabilities this kernel has, by name. Units: cap_last_cap is a capability number. */
export function kernelCapabilities(capLastCap: number): string[] {
  return CAPABILITY_NAMES.slice(0, Math.min(capLastCap, CAPABILITY_NAMES.length - 1) + 1);
}

/** moby NormalizeLegacyCapabilities: each name known, and present in this kernel. */
export function checkCapabilities(names: readonly string[], capLastCap: number): string[] {
  const present = new Set(kernelCapabilities(capLastCap));
  return names.map((given) => {
    const name = normalizeCapability(given);
    if (name === ALL) return name;
    if (!(CAPABILITY_NAMES as readonly string[]).includes(name)) throw badRequest('invalid_capability', `unknown capability: ${JSON.stringify(name)}`);
    if (!present.has(name)) {
      throw badRequest('invalid_capability', `capability not supported by your kernel or not available in the current environment: ${JSON.stringify(name)}`);
    }
    return name;
  });
}

/** moby TweakCapabilities: the container's capability set from the defaults, adds and drops. */
export function tweakCapabilities(basics: readonly string[], add: readonly string[], drop: readonly string[], capLastCap: number): string[] {
  if (add.length === 0 && drop.length === 0) return [...basics];
  const adds = checkCapabilities(add, capLastCap);
  const drops = checkCapabilities(drop, capLastCap);
  let result: string[];
  if (adds.includes(ALL)) result = kernelCapabilities(capLastCap).filter((name) => !drops.includes(name));
  else if (drops.includes(ALL)) result = [...adds];
  else result = [...basics.filter((name) => !drops.includes(name)), ...adds];
  return [...new Set(result)];
}
