/** pids controller files; the same format on v1 and v2. */
import { parseMaxOrUnsignedFile, parseUnsignedFile } from './scalar';

/** pids.current: tasks (processes and threads) in the cgroup and its descendants. Units: count. */
export function parsePidsCurrent(text: string): number {
  return parseUnsignedFile('pids.current', text);
}

/** pids.max; "max" → null (unlimited). Units: count. */
export function parsePidsMax(text: string): number | null {
  return parseMaxOrUnsignedFile('pids.max', text);
}
