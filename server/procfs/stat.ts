/** /proc/stat: the host's CPU time, the denominator of docker stats' CPU %. */
import { CgroupParseError } from '../cgroup/parse/errors';
import { parseUnsignedValue } from '../cgroup/parse/scalar';
import { splitFields } from './fields';

/** USER_HZ is 100 in the user-space ABI of every architecture Node supports. */
const NANOSECONDS_PER_USER_HZ_TICK = 1e9 / 100;
/** user nice system idle iowait irq softirq: Docker leaves out steal, guest and guest_nice. */
const DOCKER_SUMMED_FIELDS = 7;

export interface ProcStat {
  /** Sum of the first seven fields of the aggregate "cpu" line. Units: nanoseconds. */
  systemCpuNanoseconds: number;
  /** Number of "cpuN" lines: CPUs online now (not the cgroup's cpuset or quota). Units: CPUs (count). */
  onlineCpus: number;
}

/**
 * Parses /proc/stat exactly as the Docker daemon does for `system_cpu_usage` and `online_cpus`,
 * so capstan's CPU % equals docker stats' for the same container.
 */
export function parseProcStat(text: string): ProcStat {
  const file = '/proc/stat';
  let systemCpuNanoseconds: number | undefined;
  let onlineCpus = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('cpu')) continue;
    if (line.startsWith('cpu ')) {
      const fields = splitFields(line);
      if (fields.length < 1 + DOCKER_SUMMED_FIELDS) {
        throw new CgroupParseError(file, `truncated "cpu" line: ${fields.length - 1} fields, expected at least ${DOCKER_SUMMED_FIELDS}`);
      }
      let ticks = 0;
      for (let i = 1; i <= DOCKER_SUMMED_FIELDS; i++) ticks += parseUnsignedValue(file, fields[i]!, 'a tick count');
      systemCpuNanoseconds = ticks * NANOSECONDS_PER_USER_HZ_TICK;
    } else {
      const c = line.charCodeAt(3);
      if (c >= 48 && c <= 57) onlineCpus++;
    }
  }
  if (systemCpuNanoseconds === undefined) throw new CgroupParseError(file, 'no aggregate "cpu" line');
  return { systemCpuNanoseconds, onlineCpus };
}
