/** The exporter's fixtures (test/fixtures/metrics): collector snapshots and the machine they were taken on. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CollectorSnapshot, MachineInfo } from '../../server/model';
import { REPO_ROOT } from './repo';

export const METRICS_FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'metrics');

/** A fresh copy of a snapshot fixture (tests change it freely). */
export function loadSnapshot(file: string): CollectorSnapshot {
  return JSON.parse(fs.readFileSync(path.join(METRICS_FIXTURES, file), 'utf8')) as CollectorSnapshot;
}

export const FIXTURE_MACHINE: MachineInfo = {
  cpuCores: 2,
  cpuPhysicalCores: 1,
  cpuModel: 'Test CPU',
  memoryBytes: 4125147136,
  swapBytes: 1073741824,
  os: 'Debian GNU/Linux 12',
  kernel: '6.1.0-test',
  hostname: 'testhost',
  machineId: 'f00dcafe',
  bootId: 'b007b007',
};
