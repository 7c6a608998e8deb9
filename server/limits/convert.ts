/**
 * v1 → v2 value conversions, as runc (opencontainers/cgroups utils.go) does them, so a limit set
 * through capstan reads the same as one set through docker on the same host.
 */

/** Smallest and largest v1 cpu.shares the kernel keeps (it clamps anything outside). */
export const MIN_CPU_SHARES = 2;
export const MAX_CPU_SHARES = 262144;

/**
 * cpu.shares → cpu.weight with runc's current formula (opencontainers/cgroups after fd95216, runc
 * ≥ 1.3.2 / 1.4.0): a quadratic in log2(shares) that maps 2 → 1, 1024 → 100 (v2's default, so a
 * default container stays default) and 262144 → 10000. runc ≤ 1.3.1 used the linear
 * 1 + (shares − 2) × 9999 / 262142, which turned the default 1024 into 39 (runc#4772).
 * Units: shares in, weight (1–10000) out; 0 ("unset") stays 0.
 */
export function cpuSharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  if (shares <= MIN_CPU_SHARES) return 1;
  if (shares >= MAX_CPU_SHARES) return 10000;
  const l = Math.log2(shares);
  const exponent = (l * l + 125 * l) / 612 - 7 / 34;
  return Math.ceil(Math.pow(10, exponent));
}

/**
 * --blkio-weight (10–1000) → io.weight (1–10000), runc's linear map with Go's integer division:
 * 10 → 1, 500 → 4950, 1000 → 10000. Used when the cgroup has no io.bfq.weight, which takes the
 * 10–1000 value as it is. Units: weight.
 */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}
