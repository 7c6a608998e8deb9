/**
 * Block I/O files: v1 blkio "MAJ:MIN Op value" tables and v2 io.stat "MAJ:MIN key=value ..." lines.
 * Both may legitimately be empty (no I/O yet), so an empty file is an empty device list.
 */
import type { BlockDeviceSample } from '../../model';
import { CgroupParseError, quote } from './errors';
import { parseUnsignedValue } from './scalar';

function parseDevice(file: string, text: string): { major: number; minor: number } {
  const colon = text.indexOf(':');
  if (colon <= 0) throw new CgroupParseError(file, `expected a device "MAJOR:MINOR", got ${quote(text)}`);
  return {
    major: parseUnsignedValue(file, text.slice(0, colon), 'a device major number'),
    minor: parseUnsignedValue(file, text.slice(colon + 1), 'a device minor number'),
  };
}

/** The device entry for major:minor, creating it; lines come grouped by device, so the last entry usually matches. */
function deviceEntry<T extends { major: number; minor: number }>(devices: T[], major: number, minor: number): T {
  for (let i = devices.length - 1; i >= 0; i--) {
    const device = devices[i]!;
    if (device.major === major && device.minor === minor) return device;
  }
  // Both entry types have only major and minor as required fields.
  const device = { major, minor } as T;
  devices.push(device);
  return device;
}

/** v1 blkio counters per device, for one file (bytes or operations, depending on the file). */
export interface BlkioDeviceCounters {
  major: number;
  minor: number;
  /** Units: those of the file (bytes for io_service_bytes, operations for io_serviced). */
  read?: number;
  /** Units: those of the file. */
  write?: number;
}

/**
 * v1 blkio.io_service_bytes_recursive / blkio.io_serviced_recursive and their blkio.throttle.*
 * and blkio.bfq.* twins: lines "8:0 Read 123", one per device and operation, then a "Total N"
 * line. Only Read and Write are kept (matched without regard to case, as docker stats does);
 * Sync, Async, Discard and the totals would count the same I/O twice.
 */
export function parseBlkioStat(text: string, file = 'blkio.io_service_bytes_recursive'): BlkioDeviceCounters[] {
  const devices: BlkioDeviceCounters[] = [];
  let lineStart = 0;
  while (lineStart < text.length) {
    let lineEnd = text.indexOf('\n', lineStart);
    if (lineEnd === -1) lineEnd = text.length;
    if (lineEnd > lineStart) {
      const line = text.slice(lineStart, lineEnd);
      const first = line.indexOf(' ');
      const second = first === -1 ? -1 : line.indexOf(' ', first + 1);
      if (second === -1) {
        // Only the grand total has two fields; anything else shorter than three is cut off.
        if (first === -1 || line.slice(0, first) !== 'Total') {
          throw new CgroupParseError(file, `truncated line ${quote(line)} (expected "MAJOR:MINOR Op value")`);
        }
        parseUnsignedValue(file, line.slice(first + 1), 'a total');
      } else {
        const op = line.slice(first + 1, second).toLowerCase();
        const value = parseUnsignedValue(file, line.slice(second + 1), `an unsigned integer for "${line.slice(0, second)}"`);
        const { major, minor } = parseDevice(file, line.slice(0, first));
        if (op === 'read' || op === 'write') {
          const device = deviceEntry(devices, major, minor);
          if (op === 'read') device.read = value;
          else device.write = value;
        }
      }
    }
    lineStart = lineEnd + 1;
  }
  return devices;
}

/**
 * v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" per device. Newer kernels and
 * io.cost/io.latency append more keys (cost.usage=..., use_delay=...); those are skipped.
 */
export function parseIoStat(text: string): BlockDeviceSample[] {
  const file = 'io.stat';
  const devices: BlockDeviceSample[] = [];
  let lineStart = 0;
  while (lineStart < text.length) {
    let lineEnd = text.indexOf('\n', lineStart);
    if (lineEnd === -1) lineEnd = text.length;
    if (lineEnd > lineStart) {
      const fields = text.slice(lineStart, lineEnd).split(' ');
      const { major, minor } = parseDevice(file, fields[0]!);
      const device = deviceEntry(devices, major, minor);
      for (let i = 1; i < fields.length; i++) {
        const field = fields[i]!;
        if (field.length === 0) continue;
        const equals = field.indexOf('=');
        if (equals <= 0 || equals === field.length - 1) {
          throw new CgroupParseError(file, `truncated field ${quote(field)} on device ${fields[0]} (expected key=value)`);
        }
        const key = field.slice(0, equals);
        switch (key) {
          case 'rbytes': device.readBytes = parseUnsignedValue(file, field.slice(equals + 1), `an unsigned integer for "${key}"`); break;
          case 'wbytes': device.writeBytes = parseUnsignedValue(file, field.slice(equals + 1), `an unsigned integer for "${key}"`); break;
          case 'rios': device.readOps = parseUnsignedValue(file, field.slice(equals + 1), `an unsigned integer for "${key}"`); break;
          case 'wios': device.writeOps = parseUnsignedValue(file, field.slice(equals + 1), `an unsigned integer for "${key}"`); break;
        }
      }
    }
    lineStart = lineEnd + 1;
  }
  return devices;
}
