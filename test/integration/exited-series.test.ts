/**
 * A capstan container restarted by its restart policy gets a new cgroup each run, whose kernel
 * counters start again from 0; /metrics must carry the old cgroup's counters on, so
 * container_cpu_usage_seconds_total never goes backwards for the container, and keep the series
 * after the last exit (state, exit code, reason) until `capstan rm`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import { capstanCli, eventually, pastEvents, startAgentProcess, type AgentProcess } from '../helpers/agent';
import { REPO_ROOT, requireCapability } from '../helpers/repo';
import { sleep } from '../helpers/wait';

const BUSYBOX = '/usr/bin/busybox';
const NAME = 'restarted-by-policy';
const RESTARTS = 3;

const isRoot = process.getuid?.() === 0;
const capable = requireCapability(
  isRoot && fs.existsSync(BUSYBOX) && fs.existsSync(path.join(REPO_ROOT, 'native/build/Release/capstan-shim')),
  'root, /usr/bin/busybox (busybox-static) and the built capstan-shim',
);
const maybe = capable ? test : test.skip;

function capstan(agent: AgentProcess, args: readonly string[]): ReturnType<typeof capstanCli> {
  return capstanCli(agent.stateDir, args);
}

function sample(text: string, family: string, extra = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${family}{`) && l.includes(`name="${NAME}"`) && l.includes(extra));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

maybe('counters carry on across the new cgroups of restarts by policy, and the series stay after the last exit until rm', async (t) => {
  t.timeout(600_000);
  const agent = await startAgentProcess(t, ['--interval', '500ms']);
  const sinceSeconds = Math.floor(Date.now() / 1000) - 1;
  // Each run burns CPU for BURN_S seconds of wall time, then fails: on-failure restarts it
  // RESTARTS times. Bounded by the clock, not by a count of iterations, and long enough for the
  // test to watch each run: three times what a `run` and a scrape take here, which is seconds
  // under the v2 lane's emulation and well under one on a host (then 2 s). (Timed by `version`
  // alone, the first run was over before `run -d` had returned in one lane run: 0 samples.)
  const probeStartedMs = Date.now();
  const probe = await capstan(agent, ['run', '--rm', '--', BUSYBOX, 'true']);
  t.is(probe.code, 0, probe.stderr);
  await (await agent.get('/metrics')).text();
  const burnSeconds = Math.max(2, Math.ceil((3 * (Date.now() - probeStartedMs)) / 1000));
  t.log(`each run burns CPU for ${burnSeconds} s`);
  const run = await capstan(agent, [
    'run', '-d', '--name', NAME, '--restart', `on-failure:${RESTARTS}`, '-e', `BURN_S=${burnSeconds}`, '--',
    BUSYBOX, 'sh', '-c', 'end=$(( $(date +%s) + BURN_S )); while [ $(date +%s) -lt $end ]; do :; done; exit 1',
  ]);
  t.is(run.code, 0, run.stderr);
  t.teardown(async () => {
    await capstan(agent, ['rm', '-f', NAME]);
  });

  // Watch the CPU counter through every run until the container stays exited.
  const seen: Array<{ atMs: number; cpuSeconds: number }> = [];
  let final = '';
  const deadline = Date.now() + (RESTARTS + 1) * (burnSeconds + 5) * 1000 + 60_000;
  for (;;) {
    const text = await (await agent.get('/metrics')).text();
    const cpuSeconds = sample(text, 'container_cpu_usage_seconds_total');
    if (cpuSeconds !== undefined) seen.push({ atMs: Date.now(), cpuSeconds });
    // The CLI is asked only once /metrics shows the container exited: a CLI start takes seconds
    // under the v2 lane's emulation, and polling through it would miss a whole run.
    const exited = sample(text, 'container_state', 'state="exited"') === 1;
    const inspect = exited ? await capstan(agent, ['inspect', '--format', '{{.State.Status}} {{.RestartCount}}', NAME]) : undefined;
    if (inspect?.stdout.trim() === `exited ${RESTARTS}`) {
      final = text;
      break;
    }
    if (Date.now() > deadline) throw new Error(`${NAME} did not end after ${RESTARTS} restarts: ${inspect ? inspect.stdout + inspect.stderr : 'still running'}`);
    await sleep(200);
  }

  const dies = (await pastEvents(agent, sinceSeconds, 'event=die')).filter((e) => e.actor.name === NAME);
  t.is(dies.length, RESTARTS + 1, 'one die per run');
  const firstRun = seen.filter((s) => s.atMs < dies[0]!.timeMs);
  const later = seen.filter((s) => s.atMs > dies[1]!.timeMs);
  t.true(firstRun.length > 0 && later.length > 0, `samples in the first run (${firstRun.length}) and after the second (${later.length})`);
  t.log(`${seen.length} samples: ${seen.map((s) => s.cpuSeconds.toFixed(2)).join(' ')}`);

  const backwards = seen.filter((s, i) => i > 0 && s.cpuSeconds < seen[i - 1]!.cpuSeconds);
  t.deepEqual(backwards, [], 'container_cpu_usage_seconds_total never goes backwards');
  const firstRunMax = Math.max(...firstRun.map((s) => s.cpuSeconds));
  const total = sample(final, 'container_cpu_usage_seconds_total')!;
  // Four runs of the same work: without carrying, the total would be one run's (about firstRunMax).
  t.true(total >= 2 * firstRunMax, `total ${total} s after ${RESTARTS + 1} runs vs ${firstRunMax} s seen in the first`);

  t.is(sample(final, 'container_exit_code'), 1);
  t.is(sample(final, 'container_terminated_reason', 'reason="Error"'), 1);
  await sleep(1500);
  t.is(sample(await (await agent.get('/metrics')).text(), 'container_cpu_usage_seconds_total'), total, 'the last value stays');

  const removed = await capstan(agent, ['rm', NAME]);
  t.is(removed.code, 0, removed.stderr);
  await eventually(async () => ((await (await agent.get('/metrics')).text()).includes(`name="${NAME}"`) ? undefined : true), 10_000, 'the series gone after rm');
});
