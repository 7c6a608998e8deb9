/**
 * Pure parsers for cgroup v1 and v2 files: text in, typed values out, CgroupParseError on
 * anything unexpected. No I/O here; the collector reads files in batches and the assembler
 * (../assemble.ts) calls these.
 */
export { CgroupParseError } from './errors';
export { V1_UNLIMITED_THRESHOLD } from './scalar';
export { parseFlatKeyed, pickFlatKeyed } from './flatKeyed';
export * from './cpu';
export * from './memory';
export * from './io';
export * from './pids';
