/**
 * A parsed limit update in the engines' own words (pure), for containers capstan changes through
 * their owner instead of their cgroup files:
 * - Docker's POST /containers/{id}/update body (container.UpdateConfig's field names), which
 *   Docker validates and records, so `docker inspect` and the next restart keep the change;
 * - Podman's libpod update body, an OCI LinuxResources object (Podman's compat API has no update).
 */
import type { ResolvedThrottle } from './devices';
import type { LimitRequest, ThrottleSetting } from './request';

const DOCKER_THROTTLE_FIELD: Readonly<Record<ThrottleSetting, string>> = {
  deviceReadBps: 'BlkioDeviceReadBps',
  deviceWriteBps: 'BlkioDeviceWriteBps',
  deviceReadIops: 'BlkioDeviceReadIOps',
  deviceWriteIops: 'BlkioDeviceWriteIOps',
};

/**
 * Docker's update body: only the fields the request sets (absent = unchanged, as in the API).
 *
 * One deliberate difference from `docker update`: a new memory limit without --memory-swap, on a
 * container whose swap is unlimited or unset (stored MemorySwap -1 or 0), is sent with
 * MemorySwap -1, which keeps the swap as it was. Docker 20.10 itself refuses that update ("Memory
 * limit should be smaller than already set memoryswap limit", moby#39541), so a plain
 * `docker update -m 64m` of a container started without -m cannot work; with a real swap limit
 * stored, Docker's own rule (and refusal) stands.
 */
export function toDockerUpdateBody(request: LimitRequest, stored: { MemorySwap?: unknown } = {}): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (request.memory !== undefined && request.memorySwap === undefined && (stored.MemorySwap === 0 || stored.MemorySwap === -1)) body['MemorySwap'] = -1;
  if (request.nanoCpus !== undefined) body['NanoCpus'] = request.nanoCpus;
  if (request.cpuQuota !== undefined) body['CpuQuota'] = request.cpuQuota;
  if (request.cpuPeriod !== undefined) body['CpuPeriod'] = request.cpuPeriod;
  if (request.cpuShares !== undefined) body['CpuShares'] = request.cpuShares;
  if (request.cpusetCpus !== undefined) body['CpusetCpus'] = request.cpusetCpus;
  if (request.memory !== undefined) body['Memory'] = request.memory;
  if (request.memoryReservation !== undefined) body['MemoryReservation'] = request.memoryReservation;
  if (request.memorySwap !== undefined) body['MemorySwap'] = request.memorySwap;
  if (request.pidsLimit !== undefined) body['PidsLimit'] = request.pidsLimit;
  if (request.blkioWeight !== undefined) body['BlkioWeight'] = request.blkioWeight;
  if (request.restartPolicy !== undefined) body['RestartPolicy'] = { Name: request.restartPolicy.name, MaximumRetryCount: request.restartPolicy.maximumRetryCount };
  for (const setting of Object.keys(DOCKER_THROTTLE_FIELD) as ThrottleSetting[]) {
    const throttles = request[setting];
    if (throttles !== undefined) body[DOCKER_THROTTLE_FIELD[setting]] = throttles.map((t) => ({ Path: t.path, Rate: t.rate }));
  }
  return body;
}

/** Docker's default CFS period, which --cpus uses. Units: microseconds. */
const DEFAULT_CPU_PERIOD_MICROSECONDS = 100_000;

/**
 * Podman's update body (OCI LinuxResources); throttles need their devices resolved to numbers.
 * A restart policy has no place in it: Podman 4.3's libpod update takes resources only (the
 * restartPolicy query parameter came with Podman 5), so the caller refuses `--restart` first.
 */
export function toLibpodResources(request: LimitRequest, throttles: Partial<Record<ThrottleSetting, ResolvedThrottle[]>> = {}): Record<string, unknown> {
  const cpu: Record<string, unknown> = {};
  if (request.nanoCpus !== undefined) {
    const period = request.cpuPeriod ?? DEFAULT_CPU_PERIOD_MICROSECONDS;
    cpu['period'] = period;
    cpu['quota'] = Math.round((request.nanoCpus * period) / 1e9);
  }
  if (request.cpuQuota !== undefined) cpu['quota'] = request.cpuQuota;
  if (request.cpuPeriod !== undefined) cpu['period'] = request.cpuPeriod;
  if (request.cpuShares !== undefined) cpu['shares'] = request.cpuShares;
  if (request.cpusetCpus !== undefined) cpu['cpus'] = request.cpusetCpus;
  const memory: Record<string, unknown> = {};
  if (request.memory !== undefined) memory['limit'] = request.memory;
  if (request.memoryReservation !== undefined) memory['reservation'] = request.memoryReservation;
  if (request.memorySwap !== undefined) memory['swap'] = request.memorySwap;
  const blockIO: Record<string, unknown> = {};
  if (request.blkioWeight !== undefined) blockIO['weight'] = request.blkioWeight;
  const ociThrottle: Readonly<Record<ThrottleSetting, string>> = {
    deviceReadBps: 'throttleReadBpsDevice',
    deviceWriteBps: 'throttleWriteBpsDevice',
    deviceReadIops: 'throttleReadIOPSDevice',
    deviceWriteIops: 'throttleWriteIOPSDevice',
  };
  for (const setting of Object.keys(ociThrottle) as ThrottleSetting[]) {
    const devices = throttles[setting];
    if (devices !== undefined) blockIO[ociThrottle[setting]] = devices.map((d) => ({ major: d.major, minor: d.minor, rate: d.rate }));
  }
  const resources: Record<string, unknown> = {};
  if (Object.keys(cpu).length > 0) resources['cpu'] = cpu;
  if (Object.keys(memory).length > 0) resources['memory'] = memory;
  if (request.pidsLimit !== undefined) resources['pids'] = { limit: request.pidsLimit };
  if (Object.keys(blockIO).length > 0) resources['blockIO'] = blockIO;
  return resources;
}
