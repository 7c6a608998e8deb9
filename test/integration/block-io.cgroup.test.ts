/**
 * Block I/O that the test makes, checked where capstan reports it: O_DIRECT writes and reads of a
 * known size on a real block device, from inside a test cgroup or a capstan container, must show
 * within 5 % in the API's sample, in `capstan stats` and in /metrics (container_fs_* and
 * container_blkio_device_usage_total). Named *.cgroup.test.ts: it runs on the v1 host and in the
 * cgroup v2 lane (where $CAPSTAN_TEST_BLOCK_DIR is on a virtio disk).
 *
 * On cgroup v1 the kernel counts a disk per cgroup only once blk-throttle has been set up for it
 * (server/cgroup/blkio-accounting.ts). A loop device made by the test is a disk no one has set up,
 * so its test fails unless the agent does it.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import type { BlockDeviceSample } from '../../server/model';
import { startAgentProcess, eventually, type AgentProcess } from '../helpers/agent';
import { blockDeviceDirectory, directIo, freshLoopDevice, withinFivePercent, type BlockDevice } from '../helpers/block-io';
import { busyboxAvailable, writeBusyboxImages } from '../helpers/busybox-image';
import { TestCgroupTree } from '../helpers/cgroups';
import { CLI, requireCapability } from '../helpers/repo';

const execFileAsync = promisify(execFile);
const MEBIBYTE = 1024 * 1024;
const IO_BYTES = 20 * MEBIBYTE;

const isRoot = process.getuid?.() === 0;

interface ContainerResponse {
  info: { id: string; name: string; cgroupPath: string };
  stats: { blockReadBytes?: number; blockWriteBytes?: number };
  sample: { io?: { devices: BlockDeviceSample[] } };
}

/** The API's sample of `reference` once its I/O on `device` has reached `bytes` written and read. */
async function deviceSample(agent: AgentProcess, reference: string, device: BlockDevice, bytes: number): Promise<{ container: ContainerResponse; device: BlockDeviceSample }> {
  let last: BlockDeviceSample | undefined;
  try {
    return await eventually(async () => {
      const response = await agent.get(`/api/v1/containers/${encodeURIComponent(reference)}`, agent.viewerToken);
      if (response.status !== 200) return undefined;
      const container = (await response.json()) as ContainerResponse;
      last = container.sample.io?.devices.find((d) => d.major === device.major && d.minor === device.minor);
      const done = last !== undefined && (last.writeBytes ?? 0) >= bytes * 0.95 && (last.readBytes ?? 0) >= bytes * 0.95;
      return done ? { container, device: last! } : undefined;
    }, 20_000, `${bytes} bytes written and read on ${device.name} in the sample of ${reference}`);
  } catch (error) {
    throw new Error(`${(error as Error).message}; last sample for ${device.major}:${device.minor}: ${JSON.stringify(last ?? null)}`);
  }
}

/** The value of one series of /metrics, picked by its labels. */
function metricValue(metrics: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (Object.entries(labels).every(([key, value]) => labelText.includes(`${key}="${value}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

function assertDevice(t: ExecutionContext, sample: BlockDeviceSample, expected: { writeBytes: number; readBytes: number; writeOps: number; readOps: number }, where: string): void {
  t.true(withinFivePercent(sample.writeBytes, expected.writeBytes), `${where}: ${sample.writeBytes} bytes written, expected ${expected.writeBytes} ± 5 %`);
  t.true(withinFivePercent(sample.readBytes, expected.readBytes), `${where}: ${sample.readBytes} bytes read, expected ${expected.readBytes} ± 5 %`);
  t.true(withinFivePercent(sample.writeOps, expected.writeOps), `${where}: ${sample.writeOps} write operations, expected ${expected.writeOps} ± 5 %`);
  t.true(withinFivePercent(sample.readOps, expected.readOps), `${where}: ${sample.readOps} read operations, expected ${expected.readOps} ± 5 %`);
}

test('O_DIRECT I/O in a test cgroup is what the API and /metrics report, bytes and operations within 5 %', async (t) => {
  if (!requireCapability(isRoot, 'root (real cgroups)')) return;
  const { directory, device } = blockDeviceDirectory();
  const tree = TestCgroupTree.forTest(t);
  const writer = tree.child('writer');
  const agent = await startAgentProcess(t, ['--interval', '500ms']);

  const file = path.join(fs.mkdtempSync(path.join(directory, 'capstan-io-')), 'data');
  t.teardown(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }));
  const expected = await directIo(tree, writer, file, IO_BYTES);

  const { container, device: sample } = await deviceSample(agent, writer, device, IO_BYTES);
  assertDevice(t, sample, expected, `API sample of ${writer} on ${device.name}`);
  t.true(withinFivePercent(container.stats.blockWriteBytes, IO_BYTES), `stats.blockWriteBytes ${container.stats.blockWriteBytes}`);

  const metrics = await (await agent.get('/metrics')).text();
  const labels = { id: writer, device: `/dev/${device.name}` };
  t.true(withinFivePercent(metricValue(metrics, 'container_fs_writes_bytes_total', labels), IO_BYTES), 'container_fs_writes_bytes_total');
  t.true(withinFivePercent(metricValue(metrics, 'container_fs_reads_bytes_total', labels), IO_BYTES), 'container_fs_reads_bytes_total');
  t.true(withinFivePercent(metricValue(metrics, 'container_fs_writes_total', labels), expected.writeOps), 'container_fs_writes_total');
  t.true(withinFivePercent(metricValue(metrics, 'container_fs_reads_total', labels), expected.readOps), 'container_fs_reads_total');
  t.true(withinFivePercent(metricValue(metrics, 'container_blkio_device_usage_total', { ...labels, operation: 'Write' }), IO_BYTES), 'blkio_device_usage Write');
  t.true(withinFivePercent(metricValue(metrics, 'container_blkio_device_usage_total', { ...labels, operation: 'Read' }), IO_BYTES), 'blkio_device_usage Read');
});

test('a disk no one has set up yet (a new loop device) is counted per cgroup once the agent runs', async (t) => {
  if (!requireCapability(isRoot, 'root (real cgroups, loop devices)')) return;
  // The device exists before the agent starts, as a disk of the machine would.
  const loop = freshLoopDevice(t);
  const tree = TestCgroupTree.forTest(t);
  const writer = tree.child('loop-writer');
  const agent = await startAgentProcess(t, ['--interval', '500ms']);
  const expected = await directIo(tree, writer, loop.node, 8 * MEBIBYTE);
  const { device: sample } = await deviceSample(agent, writer, loop, 8 * MEBIBYTE);
  assertDevice(t, sample, expected, `API sample of ${writer} on ${loop.name}`);
});

test('a capstan container writing 20 MiB with O_DIRECT to its root filesystem shows 20 MiB in stats, /metrics and the API', async (t) => {
  if (!requireCapability(isRoot && busyboxAvailable(), 'root and /usr/bin/busybox (busybox-static)')) return;
  const { directory, device } = blockDeviceDirectory();
  // The container's root filesystem is an overlay in the state directory: on the disk, not on tmpfs.
  const agent = await startAgentProcess(t, ['--interval', '500ms'], { stateDirParent: directory });
  const cli = (args: string[]) => execFileAsync(process.execPath, [CLI, '--state-dir', agent.stateDir, ...args], { maxBuffer: 16 * MEBIBYTE });
  const images = writeBusyboxImages(fs.mkdtempSync(path.join(directory, 'capstan-images-')));
  t.teardown(() => fs.rmSync(path.dirname(images.rootfsTar), { recursive: true, force: true }));
  await cli(['image', 'import', '--name', 'busybox-io', images.rootfsTar]);
  const count = IO_BYTES / (64 * 1024);
  // Write, read back, then stay up so the agent samples the finished counters.
  const { stdout } = await cli([
    'run', '-d', '--name', 'io-writer', 'busybox-io', 'sh', '-c',
    `dd if=/dev/zero of=/data bs=65536 count=${count} oflag=direct && dd if=/data of=/dev/null bs=65536 iflag=direct && sleep 600`,
  ]);
  const id = stdout.trim();
  t.teardown(() => cli(['rm', '-f', id]).catch(() => undefined));

  const { container, device: sample } = await deviceSample(agent, id, device, IO_BYTES);
  t.is(container.info.name, 'io-writer');
  // Overlay adds its own small reads (copy-up checks, metadata): only the data must match.
  t.true(withinFivePercent(sample.writeBytes, IO_BYTES), `API: ${sample.writeBytes} bytes written on ${device.name}`);
  t.true(withinFivePercent(sample.readBytes, IO_BYTES), `API: ${sample.readBytes} bytes read on ${device.name}`);

  const stats = await cli(['stats', '--no-stream', '--format', '{{.BlockIO}}', 'io-writer']);
  // docker's BLOCK I/O column: "READ / WRITE" in decimal units with three significant digits.
  const [readText, writeText] = stats.stdout.trim().split(' / ');
  t.true(withinFivePercent(parseDockerSize(readText!), IO_BYTES), `capstan stats BLOCK I/O read "${readText}"`);
  t.true(withinFivePercent(parseDockerSize(writeText!), IO_BYTES), `capstan stats BLOCK I/O write "${writeText}"`);

  const metrics = await (await agent.get('/metrics')).text();
  const labels = { name: 'io-writer', device: `/dev/${device.name}` };
  t.true(withinFivePercent(metricValue(metrics, 'container_fs_writes_bytes_total', labels), IO_BYTES), 'container_fs_writes_bytes_total');
  t.true(withinFivePercent(metricValue(metrics, 'container_blkio_device_usage_total', { ...labels, operation: 'Write' }), IO_BYTES), 'blkio_device_usage Write');
});

/** "21MB", "0B", "1.05GB" → bytes (docker's decimal HumanSize). */
function parseDockerSize(text: string): number {
  const match = /^([\d.]+)\s*(B|kB|MB|GB|TB)$/.exec(text.trim());
  if (!match) return NaN;
  return Number(match[1]) * { B: 1, kB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 }[match[2] as 'B' | 'kB' | 'MB' | 'GB' | 'TB'];
}
