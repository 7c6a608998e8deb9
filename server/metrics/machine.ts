/**
 * machine_* gauges, from the MachineInfo the agent gathered at start-up (systeminformation).
 * They never change while the agent runs, so they are set once in prom-client; exposition.ts writes them.
 */
import { Gauge, type Registry } from 'prom-client';
import type { MachineInfo } from '../model';

/** cAdvisor's machine labels. system_uuid is not in MachineInfo yet, so it is empty. */
export const MACHINE_LABEL_NAMES = ['boot_id', 'machine_id', 'system_uuid'] as const;
type MachineLabel = (typeof MACHINE_LABEL_NAMES)[number];

export interface MachineMetricDescription {
  name: string;
  help: string;
  unit: string;
  /** The MachineInfo value; undefined = unknown, and the family is then not registered. */
  value(machine: MachineInfo): number | undefined;
}

export const MACHINE_METRICS: readonly MachineMetricDescription[] = [
  { name: 'machine_cpu_cores', help: 'Number of logical CPUs.', unit: 'CPUs', value: (m) => m.cpuCores },
  { name: 'machine_cpu_physical_cores', help: 'Number of physical CPU cores.', unit: 'cores', value: (m) => m.cpuPhysicalCores },
  { name: 'machine_memory_bytes', help: 'Amount of memory installed on the machine.', unit: 'bytes', value: (m) => m.memoryBytes },
  { name: 'machine_swap_bytes', help: 'Amount of swap configured on the machine.', unit: 'bytes', value: (m) => m.swapBytes },
];

export const metricNames: readonly string[] = MACHINE_METRICS.map((m) => m.name);

/** Registers the machine gauges whose value is known. */
export function register(registry: Registry, machine: MachineInfo): void {
  const labels: Record<MachineLabel, string> = {
    boot_id: machine.bootId ?? '',
    machine_id: machine.machineId ?? '',
    system_uuid: '',
  };
  for (const description of MACHINE_METRICS) {
    const value = description.value(machine);
    if (value === undefined || !Number.isFinite(value)) continue;
    const gauge = new Gauge<MachineLabel>({
      name: description.name,
      help: description.help,
      labelNames: MACHINE_LABEL_NAMES,
      registers: [registry],
    });
    gauge.set(labels, value);
  }
}
