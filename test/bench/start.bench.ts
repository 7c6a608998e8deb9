/**
 * start: container start latency for `true` in the busybox test image, everything in one run,
 * interleaved round by round in a new random order each round, so the shared machine's noise hits
 * all alike and no way always inherits the same other way's background clean-up:
 *
 *   capstan API   POST /api/v1/containers?start=1 (autoRemove) → the `die` event on the agent's
 *                 /api/v1/events stream, as a client sees it                          (judged)
 *   runc          `runc run` of the same rootfs (Debian's runc), spawn → exit           (baseline)
 *   floor         `unshare -pfmuin chroot ROOTFS /bin/true`: namespaces + exec, nothing else
 *   capstan CLI   `capstan run --rm IMAGE true` as a user types it, spawn → exit        (judged)
 *   docker        `docker run --rm --network none IMAGE true`: Debian's docker.io by path, against
 *                 a private dockerd (test/helpers/engines.ts, through dockerd.ts), the same busybox
 *                 rootfs `docker import`ed from a tarball whose hard links keep their mode
 *
 * Targets (issue 4): the API under a third of runc's median; the CLI under a third of docker's.
 * docker is skipped with a note when its packages cannot be installed or dockerd cannot start.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { writeBusyboxImages } from '../helpers/busybox-image';
import { CLI, REPO_ROOT } from '../helpers/repo';
import type { TestEngine } from '../helpers/engines';
import { BenchAgent } from './agent';
import { dockerCli, dockerUnavailable, startBenchDockerd } from './dockerd';
import { CgroupParent, TempDirectory } from './resources';
import { formatMs, formatRatio, interleave, summarize, type Benchmark, type BenchContext, type BenchResult, type Disposable, type Summary, type TargetCheck } from './harness';

const ROUNDS = 25;
const WARMUP_ROUNDS = 3;
/**
 * Each round runs the ways in a new random order: `docker run --rm` returns before dockerd and
 * containerd have finished cleaning up, and runc and capstan leave namespace teardown to kernel
 * workers. A fixed rotation would put that work on the same next way every time. (A pause between
 * ways was tried: it made every way slower alike, as idle vCPUs wake slowly; see BENCHMARKS.md.)
 */
const ORDER = { shuffle: true } as const;
const IMAGE = 'capstan-bench/busybox:start';
const TARGET_FRACTION = 1 / 3;

interface DebianHelpers {
  ensureDebianPackages(names: string[], options?: { log?: (message: string) => void }): void;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const debian = require(path.join(REPO_ROOT, 'scripts/lib/debian.js')) as DebianHelpers;

/** Spawns a command and resolves with how long it took to exit. Units: milliseconds. */
function timeCommand(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, [...args], { stdio: ['ignore', 'ignore', 'pipe'], ...(env ? { env } : {}) });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const elapsed = performance.now() - started;
      if (code === 0) resolve(elapsed);
      else reject(new Error(`${command} ${args.join(' ')} exited ${code ?? signal}: ${stderr.trim()}`));
    });
  });
}

/** Lifecycle events from the agent's /api/v1/events stream, kept by container id. */
class DieWatcher implements Disposable {
  readonly label = 'agent events stream';
  private readonly arrivals = new Map<string, number>();
  private readonly waiters = new Map<string, (atMs: number) => void>();
  private request: http.ClientRequest | undefined;

  start(url: string, token: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.request = http.get(`${url}/api/v1/events`, { headers: { authorization: `Bearer ${token}` } }, (response) => {
        if (response.statusCode !== 200) {
          reject(new Error(`GET /api/v1/events: ${response.statusCode}`));
          return;
        }
        let pending = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          const atMs = performance.now();
          pending += chunk;
          let newline: number;
          while ((newline = pending.indexOf('\n')) !== -1) {
            const line = pending.slice(0, newline);
            pending = pending.slice(newline + 1);
            if (line === '') continue;
            const event = JSON.parse(line) as { action: string; actor: { id: string } };
            if (event.action !== 'die') continue;
            const waiter = this.waiters.get(event.actor.id);
            if (waiter) {
              this.waiters.delete(event.actor.id);
              waiter(atMs);
            } else {
              this.arrivals.set(event.actor.id, atMs);
            }
          }
        });
        resolve();
      });
      this.request.on('error', reject);
    });
  }

  /** When the die event of `id` arrived (it may have come before the id was known). Units: performance.now() ms. */
  dieOf(id: string, timeoutMs = 30_000): Promise<number> {
    const arrived = this.arrivals.get(id);
    if (arrived !== undefined) {
      this.arrivals.delete(id);
      return Promise.resolve(arrived);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new Error(`no die event for ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(id, (atMs) => {
        clearTimeout(timer);
        resolve(atMs);
      });
    });
  }

  async dispose(): Promise<void> {
    this.disposeSync();
  }

  disposeSync(): void {
    this.request?.destroy();
  }
}

/** One POST to the API with a keep-alive agent; resolves with the parsed answer. */
function postJson(httpAgent: http.Agent, url: string, token: string, body: unknown): Promise<{ status: number; json: { Id?: string; error?: { message: string } } }> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const request = http.request(url, {
      method: 'POST',
      agent: httpAgent,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
    });
    request.on('response', (response) => {
      let answer = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (answer += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, json: JSON.parse(answer || '{}') }));
    });
    request.on('error', reject);
    request.end(text);
  });
}

function runFile(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, [...args], { maxBuffer: 16 * 1024 * 1024, timeout: 300_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')}: ${stderr || error.message}`));
      else resolve(stdout);
    });
  });
}

async function setUpDocker(context: BenchContext, notes: string[]): Promise<TestEngine | undefined> {
  try {
    debian.ensureDebianPackages(['docker.io'], { log: context.log });
  } catch (error) {
    notes.push(`docker skipped: cannot install docker.io (${(error as Error).message.split('\n')[0]})`);
    return undefined;
  }
  const unavailable = dockerUnavailable();
  if (unavailable) {
    notes.push(`docker skipped: ${unavailable}`);
    return undefined;
  }
  try {
    const docker = await startBenchDockerd(context);
    await docker.importBusybox(IMAGE);
    // One run first: the first container pays for docker's own set-up.
    await dockerCli(docker, ['run', '--rm', ...docker.runFlags, IMAGE, '/bin/true']);
    return docker;
  } catch (error) {
    notes.push(`docker skipped: ${(error as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

export const benchmark: Benchmark = {
  name: 'start',
  description: 'container start latency for `true`: capstan API and CLI vs runc, unshare+chroot and docker',
  async run(context): Promise<BenchResult> {
    const notes: string[] = [];
    debian.ensureDebianPackages(['runc', 'busybox-static', 'util-linux'], { log: context.log });

    const work = context.own(new TempDirectory('capstan-bench-start-'));
    const images = writeBusyboxImages(work.path);
    // The same rootfs for runc, the floor and docker: the image's base layer, unpacked.
    const bundle = path.join(work.path, 'bundle');
    const rootfs = path.join(bundle, 'rootfs');
    fs.mkdirSync(rootfs, { recursive: true });
    execFileSync('tar', ['-xf', images.rootfsTar, '-C', rootfs]);
    execFileSync('runc', ['spec', '--bundle', bundle]);
    const spec = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as { process: { terminal: boolean; args: string[] } };
    spec.process.terminal = false;
    spec.process.args = ['/bin/true'];
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
    const runcRoot = path.join(work.path, 'runc-state');

    const parent = context.own(new CgroupParent(`/capstan-test-bench-start-${randomBytes(4).toString('hex')}`));
    const agent = await BenchAgent.start(['--cgroup-parent', parent.path], (a) => context.own(a));
    const cli = (args: string[]): string[] => [CLI, '--state-dir', agent.stateDir, ...args];
    await runFile(process.execPath, cli(['image', 'import', '--name', IMAGE, images.rootfsTar]));
    const token = (JSON.parse(fs.readFileSync(path.join(agent.stateDir, 'tokens.json'), 'utf8')) as { tokens: Array<{ role: string; token: string }> }).tokens.find(
      (entry) => entry.role === 'operator',
    )!.token;
    const dies = context.own(new DieWatcher());
    await dies.start(agent.url, token);
    const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });

    const docker = await setUpDocker(context, notes);

    const samples: Record<string, number[]> = { api: [], runc: [], floor: [], cli: [], docker: [] };
    let runcCounter = 0;
    let recording = false;
    const record = (key: string, ms: number): void => {
      if (recording) samples[key]!.push(ms);
    };
    const steps: Array<() => Promise<void>> = [
      async () => {
        const started = performance.now();
        const answer = await postJson(httpAgent, `${agent.url}/api/v1/containers?start=1`, token, { image: IMAGE, cmd: ['true'], autoRemove: true });
        if (answer.status !== 201 || !answer.json.Id) throw new Error(`capstan API run: ${answer.status} ${answer.json.error?.message ?? ''}`);
        record('api', (await dies.dieOf(answer.json.Id)) - started);
      },
      async () => {
        record('runc', await timeCommand('runc', ['--root', runcRoot, 'run', '--bundle', bundle, `capstan-bench-${process.pid}-${++runcCounter}`]));
      },
      async () => {
        record('floor', await timeCommand('unshare', ['--pid', '--fork', '--mount', '--uts', '--ipc', '--net', 'chroot', rootfs, '/bin/true']));
      },
      async () => {
        // As a user types it: the `capstan` program itself (its #! line starts node), not `node main.js`.
        record('cli', await timeCommand(CLI, cli(['run', '--rm', IMAGE, 'true']).slice(1)));
      },
      ...(docker
        ? [
            async (): Promise<void> => {
              // Debian's client by path, with the engine's flags (no network, its cgroup parent).
              const started = performance.now();
              await dockerCli(docker, ['run', '--rm', ...docker.runFlags, IMAGE, '/bin/true']);
              record('docker', performance.now() - started);
            },
          ]
        : []),
    ];
    context.log(`start: ${WARMUP_ROUNDS} warm-up rounds, then ${ROUNDS} measured (${steps.length} ways each)`);
    await interleave(WARMUP_ROUNDS, steps, ORDER);
    recording = true;
    await interleave(ROUNDS, steps, ORDER);
    httpAgent.destroy();

    const summaries: Record<string, Summary> = {};
    for (const [key, values] of Object.entries(samples)) if (values.length > 0) summaries[key] = summarize(values);
    const median = (key: string): number => summaries[key]?.medianMs ?? NaN;
    const rows: Array<[string, string, string]> = [
      ['capstan API (request → die event)', 'api', 'runc'],
      ['runc run', 'runc', 'runc'],
      ['unshare + chroot (floor)', 'floor', 'runc'],
      ['capstan run --rm (CLI)', 'cli', docker ? 'docker' : 'runc'],
      ...(docker ? ([['docker run --rm', 'docker', 'docker']] as Array<[string, string, string]>) : []),
    ];
    const targets: TargetCheck[] = [
      {
        what: 'capstan API start / runc run (medians)',
        target: '< 0.33×',
        measured: formatRatio(median('api') / median('runc')),
        met: median('api') < median('runc') * TARGET_FRACTION,
      },
    ];
    if (docker) {
      targets.push({
        what: 'capstan run --rm / docker run --rm (medians)',
        target: '< 0.33×',
        measured: formatRatio(median('cli') / median('docker')),
        met: median('cli') < median('docker') * TARGET_FRACTION,
      });
    }
    notes.push('capstan API: from sending POST /api/v1/containers?start=1 to reading the die event on /api/v1/events, both on loopback');
    notes.push('the CLI time includes starting node for the capstan command (as docker run includes the docker client)');
    if (process.env['NODE_EXTRA_CA_CERTS']) {
      notes.push(
        `NODE_EXTRA_CA_CERTS is set here (${process.env['NODE_EXTRA_CA_CERTS']}): node would parse that bundle at every start; the capstan launcher sets it aside (see server/cli/main.ts)`,
      );
    }
    return {
      name: 'start',
      description: this.description,
      tables: [
        {
          title: `Start latency of \`true\` (${ROUNDS} rounds, shuffled; ms)`,
          columns: ['way', 'median', 'p90', 'min', 'max', 'vs baseline'],
          rows: rows
            .filter(([, key]) => summaries[key])
            .map(([label, key, baseline]) => [
              label,
              formatMs(median(key)),
              formatMs(summaries[key]!.p90Ms),
              formatMs(summaries[key]!.minMs),
              formatMs(summaries[key]!.maxMs),
              `${formatRatio(median(key) / median(baseline))} ${baseline}`,
            ]),
        },
      ],
      targets,
      notes,
      data: { summaries, samplesMs: samples, rounds: ROUNDS },
    };
  },
};
