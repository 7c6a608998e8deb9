import test from 'ava';
import { blkioWeightToIoWeight, cpuSharesToWeight } from '../../server/limits/convert';

test('cpu.shares → cpu.weight uses runc\'s current formula: 1024 → 100 (v2 default), 2 → 1, 262144 → 10000', (t) => {
  t.is(cpuSharesToWeight(1024), 100);
  t.is(cpuSharesToWeight(2), 1);
  t.is(cpuSharesToWeight(262144), 10000);
  // Edges and clamping, as ConvertCPUSharesToCgroupV2Value.
  t.is(cpuSharesToWeight(0), 0);
  t.is(cpuSharesToWeight(1), 1);
  t.is(cpuSharesToWeight(3), 2);
  t.is(cpuSharesToWeight(1_000_000), 10000);
  t.is(cpuSharesToWeight(262143), 10000);
  // The curve between the fixed points: ceil(10^((l² + 125 l) / 612 − 7/34)), l = log2(shares).
  t.is(cpuSharesToWeight(512), 59);
  t.is(cpuSharesToWeight(2048), 174);
  t.is(cpuSharesToWeight(100), 17);
  // Not the old linear map (runc ≤ 1.3.1), which gave 39 for the default.
  t.not(cpuSharesToWeight(1024), 1 + Math.floor(((1024 - 2) * 9999) / 262142));
});

test('the curve is monotonic over the whole shares range', (t) => {
  let previous = 0;
  for (let shares = 2; shares <= 262144; shares += 97) {
    const weight = cpuSharesToWeight(shares);
    t.true(weight >= previous && weight >= 1 && weight <= 10000, `shares ${shares}`);
    previous = weight;
  }
});

test('--blkio-weight → io.weight is runc\'s linear map 10–1000 → 1–10000', (t) => {
  t.is(blkioWeightToIoWeight(10), 1);
  t.is(blkioWeightToIoWeight(1000), 10000);
  t.is(blkioWeightToIoWeight(500), 4950);
  t.is(blkioWeightToIoWeight(100), 910);
  t.is(blkioWeightToIoWeight(0), 0);
});
