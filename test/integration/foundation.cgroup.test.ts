/**
 * The Foundation slice end to end on real cgroups: a capped busy loop and a memory holder, seen
 * through the agent's API, `capstan stats`, and /metrics checked by the real promtool. Named
 * *.cgroup.test.ts so it also runs in the cgroup v2 VM lane.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import { startAgentProcess, eventually } from '../helpers/agent';
import { TestCgroupTree } from '../helpers/cgroups';
import { CLI, requireCapability } from '../helpers/repo';

const execFileAsync = promisify(execFile);
const isRoot = process.getuid?.() === 0;

interface ContainerResponse {
  info: { id: string; name: string; cgroupPath: string };
  stats: { cpuPercent?: number; memoryWorkingSetBytes?: number; cpuLimitCpus?: number | null };
}

test('a busy loop capped at 20% of a CPU and a 100 MB holder, through the API, the CLI and /metrics', async (t) => {
  if (!requireCapability(isRoot, 'root (real cgroups)')) return t.log('skipped: needs root');
  const tree = TestCgroupTree.forTest(t);
  const busy = tree.child('busy');
  const hog = tree.child('hog');
  tree.setCpuQuota(busy, 20_000, 100_000);
  await tree.busyLoop(busy);
  await tree.holdMemory(hog, 100);

  const agent = await startAgentProcess(t, ['--interval', '1s']);
  const encoded = encodeURIComponent(busy);

  // CPU % needs two samples a second apart; let the cap settle over a few ticks, then read.
  await new Promise((resolve) => setTimeout(resolve, 3500));
  const busyStats = await eventually(async () => {
    const response = await agent.get(`/api/v1/containers/${encoded}`, agent.viewerToken);
    if (response.status !== 200) return undefined;
    const body = (await response.json()) as ContainerResponse;
    return body.stats.cpuPercent === undefined ? undefined : body;
  }, 20_000, 'CPU % of the busy cgroup');
  t.is(busyStats.info.cgroupPath, busy);
  t.true(Math.abs(busyStats.stats.cpuPercent! - 20) <= 5, `API CPU % ${busyStats.stats.cpuPercent} should be 20 ± 5`);
  t.is(busyStats.stats.cpuLimitCpus, 0.2);

  const hogStats = await eventually(async () => {
    const response = await agent.get(`/api/v1/containers/${encodeURIComponent(hog)}`, agent.viewerToken);
    const body = (await response.json()) as ContainerResponse;
    return (body.stats.memoryWorkingSetBytes ?? 0) >= 90e6 ? body : undefined;
  }, 30_000, 'a working set of at least 90 MB');
  t.true(hogStats.stats.memoryWorkingSetBytes! >= 90e6);

  // The CLI answers at once from the agent's previous sample.
  const { stdout } = await execFileAsync(process.execPath, [CLI, 'stats', '--no-stream', '--format', 'json', '--state-dir', agent.stateDir, busy]);
  const rows = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, string>);
  t.is(rows.length, 1);
  const cliPercent = Number.parseFloat(rows[0]!['CPUPerc']!);
  t.true(Math.abs(cliPercent - 20) <= 5, `CLI CPU % ${rows[0]!['CPUPerc']} should be 20 ± 5`);
  t.is(rows[0]!['Name'], busy);

  // /metrics: valid per promtool, with the test cgroup's series under the right id.
  const metrics = await (await agent.get('/metrics')).text();
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
  t.is(promtool.error, undefined, 'promtool must be installed (Debian package prometheus)');
  t.is(promtool.status, 0, `promtool check metrics:\n${promtool.stdout}${promtool.stderr}`);
  const lines = metrics.split('\n');
  t.true(lines.some((line) => line.startsWith('container_cpu_usage_seconds_total{') && line.includes(`id="${busy}"`)));
  t.true(lines.some((line) => line.startsWith('container_memory_working_set_bytes{') && line.includes(`id="${hog}"`)));
});

test('API auth: 401 without a token or with a wrong one, 200 with the viewer token', async (t) => {
  if (!requireCapability(isRoot, 'root (real cgroups)')) return t.log('skipped: needs root');
  const agent = await startAgentProcess(t);
  const anonymous = await agent.get('/api/v1/containers');
  t.is(anonymous.status, 401);
  t.regex(((await anonymous.json()) as { error: { message: string } }).error.message, /Authorization/);
  t.is((await agent.get('/api/v1/containers', 'not-a-valid-token-at-all')).status, 401);
  const viewer = await agent.get('/api/v1/containers?all=1', agent.viewerToken);
  t.is(viewer.status, 200);
  const body = (await viewer.json()) as { containers: ContainerResponse[] };
  t.true(body.containers.some((c) => c.info.cgroupPath === '/'));
  t.is((await agent.get('/metrics')).status, 200, '/metrics is open by default');
  const unknown = await agent.get('/api/v1/containers/no-such-thing', agent.viewerToken);
  t.is(unknown.status, 404);
  t.regex(((await unknown.json()) as { error: { message: string } }).error.message, /No such container: no-such-thing/);
});
