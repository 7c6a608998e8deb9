/**
 * Pure parsers for host-wide /proc files (no I/O). They throw CgroupParseError like the cgroup
 * parsers, so the collector handles every parse failure the same way.
 */
export { parseProcStat, type ProcStat } from './stat';
export { parseMeminfo, type Meminfo } from './meminfo';
export { parseNetDev } from './netDev';
export { parseFirstPid, parseNamespaceInode } from './pid';
export { splitFields } from './fields';
