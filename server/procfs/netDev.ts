/** /proc/<pid>/net/dev: per-interface counters of the network namespace that pid lives in. */
import type { NetworkInterfaceSample } from '../model';
import { CgroupParseError, quote } from '../cgroup/parse/errors';
import { parseUnsignedValue } from '../cgroup/parse/scalar';
import { splitFields } from './fields';

/** Receive: bytes packets errs drop fifo frame compressed multicast; then the same eight for transmit. */
const COLUMNS = 16;
const HEADER_LINES = 2;

/**
 * Every interface in the file, lo included: whether loopback counts (docker stats leaves it out,
 * cAdvisor keeps it) is the caller's decision.
 */
export function parseNetDev(text: string): NetworkInterfaceSample[] {
  const file = 'net/dev';
  const lines = text.split('\n');
  if (lines.length < HEADER_LINES || !lines[0]!.startsWith('Inter-')) {
    throw new CgroupParseError(file, `missing the two header lines, got ${quote(lines[0] ?? '')}`);
  }
  const interfaces: NetworkInterfaceSample[] = [];
  for (let i = HEADER_LINES; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim().length === 0) continue;
    // The name is padded on the left and, on old kernels, glued to the first number ("eth0:1234").
    const colon = line.indexOf(':');
    if (colon === -1) throw new CgroupParseError(file, `expected "name: counters", got ${quote(line)}`);
    const name = line.slice(0, colon).trim();
    const fields = splitFields(line.slice(colon + 1));
    if (fields.length < COLUMNS) {
      throw new CgroupParseError(file, `truncated line for ${quote(name)}: ${fields.length} counters, expected ${COLUMNS}`);
    }
    const counter = (column: number): number => parseUnsignedValue(file, fields[column]!, `an unsigned counter for ${quote(name)}`);
    interfaces.push({
      name,
      rxBytes: counter(0),
      rxPackets: counter(1),
      rxErrors: counter(2),
      rxDropped: counter(3),
      txBytes: counter(8),
      txPackets: counter(9),
      txErrors: counter(10),
      txDropped: counter(11),
    });
  }
  return interfaces;
}
