/** Picking a process to look through: the collector reads /proc/<pid>/net/dev of one member of a cgroup. */
import { CgroupParseError, quote } from '../cgroup/parse/errors';
import { parseUnsignedValue } from '../cgroup/parse/scalar';

/** The first PID listed in a cgroup.procs file, or undefined when the cgroup has no processes. */
export function parseFirstPid(text: string): number | undefined {
  const end = text.indexOf('\n');
  const first = (end === -1 ? text : text.slice(0, end)).trim();
  if (first.length === 0) return undefined;
  const pid = parseUnsignedValue('cgroup.procs', first, 'a PID');
  if (pid === 0) throw new CgroupParseError('cgroup.procs', `expected a PID, got ${quote(first)}`);
  return pid;
}

/**
 * The inode number in a namespace link target ("net:[4026531833]", from readlink of
 * /proc/<pid>/ns/net). Two processes share a namespace exactly when these are equal.
 */
export function parseNamespaceInode(link: string, kind = 'net'): number {
  const file = `ns/${kind}`;
  const prefix = `${kind}:[`;
  if (!link.startsWith(prefix) || !link.endsWith(']')) {
    throw new CgroupParseError(file, `expected "${prefix}INODE]", got ${quote(link)}`);
  }
  return parseUnsignedValue(file, link.slice(prefix.length, -1), 'a namespace inode number');
}
