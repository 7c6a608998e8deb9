/**
 * update: the round trip of a live limit change through the real agent — PATCH
 * /api/v1/containers/:ref/limits with the operator token, answered after the agent has validated,
 * written, read every file back and re-read the limits — against the floor for the same change:
 * one bare native write(2) of the same control file plus one read of it, in this process, in the
 * same run (interleaved, so load on the shared machine hits both alike).
 *
 * Two updates are timed: `pidsLimit` (one file, the floor's file) and `cpus` + `memory` (three
 * files on v1, two on v2). Target (issue 5): median round trip < 10 ms.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { detectLayout } from '../../server/cgroup/layout';
import { writeFile } from '../../server/native';
import { BenchAgent } from './agent';
import { BenchCgroupTree } from './cgroups';
import { formatMs, formatRatio, interleave, sleep, summarize, type Benchmark, type BenchResult, type Summary } from './harness';

const ROUNDS = 200;
const WARMUP_ROUNDS = 20;
const TARGET_MS = 10;

/** PATCH/GET with a bearer token on one kept-alive loopback socket, timed client-side. */
class TokenClient {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {
    const { hostname } = new URL(baseUrl);
    if (!['127.0.0.1', '[::1]', 'localhost'].includes(hostname)) throw new Error(`benchmarks only talk to loopback, not ${baseUrl}`);
  }

  request(method: string, pathname: string, body?: unknown): Promise<{ status: number; body: string; elapsedMs: number }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
      if (payload !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = String(Buffer.byteLength(payload));
      }
      const started = performance.now();
      const request = http.request(this.baseUrl + pathname, { method, headers, agent: this.httpAgent }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), elapsedMs: performance.now() - started }));
        response.on('error', reject);
      });
      request.on('error', reject);
      request.setTimeout(30_000, () => request.destroy(new Error(`${method} ${pathname} timed out after 30 s`)));
      request.end(payload);
    });
  }

  close(): void {
    this.httpAgent.destroy();
  }
}

export const benchmark: Benchmark = {
  name: 'update',
  description: 'PATCH /containers/:ref/limits round trip (validate, write, read back) vs a bare native write + read of the same file',
  async run(context): Promise<BenchResult> {
    const layout = detectLayout();
    const tree = context.own(new BenchCgroupTree(layout));
    tree.growTo(1);
    const target = tree.child(0);
    const agent = await BenchAgent.start(['--interval', '1s'], (a) => context.own(a));
    const { tokens } = JSON.parse(fs.readFileSync(path.join(agent.stateDir, 'tokens.json'), 'utf8')) as { tokens: Array<{ role: string; token: string }> };
    const client = new TokenClient(agent.url, tokens.find((t) => t.role === 'operator')!.token);
    context.own({ label: 'update bench HTTP client', dispose: async () => client.close(), disposeSync: () => client.close() });

    const route = `/api/v1/containers/${encodeURIComponent(target)}/limits`;
    // The raw source lists the new cgroup at the agent's next tick.
    const deadline = Date.now() + 20_000;
    while ((await client.request('GET', route)).status !== 200) {
      if (Date.now() > deadline) throw new Error(`the agent never listed ${target}:\n${agent.recentOutput()}`);
      await sleep(100);
    }

    const pidsFile = layout.controllersOn === 2 ? `${layout.v2Mount}${target}/pids.max` : `${layout.v1Mounts.pids}${target}/pids.max`;
    let flip = 0;
    const floor: number[] = [];
    const pids: number[] = [];
    const cpuMemory: number[] = [];
    const health: number[] = [];
    const expectOk = (answer: { status: number; body: string }): void => {
      if (answer.status !== 200) throw new Error(`PATCH ${route} answered ${answer.status}: ${answer.body.slice(0, 300)}`);
    };
    const steps = (record: boolean): Array<() => Promise<void>> => [
      async () => {
        const value = String(100 + (flip++ % 2));
        const started = performance.now();
        writeFile(pidsFile, value);
        const readBack = fs.readFileSync(pidsFile, 'utf8');
        const elapsed = performance.now() - started;
        if (readBack.trim() !== value) throw new Error(`${pidsFile} reads ${readBack.trim()} after writing ${value}`);
        if (record) floor.push(elapsed);
      },
      async () => {
        const answer = await client.request('PATCH', route, { pidsLimit: 200 + (flip++ % 2) });
        expectOk(answer);
        if (record) pids.push(answer.elapsedMs);
      },
      async () => {
        // The HTTP stack alone (same server, same socket): what the round trip costs before any cgroup work.
        const answer = await client.request('GET', '/healthz');
        if (answer.status !== 200) throw new Error(`GET /healthz answered ${answer.status}`);
        if (record) health.push(answer.elapsedMs);
      },
      async () => {
        const odd = flip++ % 2 === 1;
        const answer = await client.request('PATCH', route, { cpus: odd ? 0.5 : 0.25, memory: odd ? '64m' : '96m' });
        expectOk(answer);
        if (record) cpuMemory.push(answer.elapsedMs);
      },
    ];
    await interleave(WARMUP_ROUNDS, steps(false));
    await interleave(ROUNDS, steps(true));

    const floorSummary = summarize(floor);
    const pidsSummary = summarize(pids);
    const cpuMemorySummary = summarize(cpuMemory);
    const healthSummary = summarize(health);
    const row = (label: string, s: Summary): string[] => [
      label,
      String(s.count),
      formatMs(s.medianMs),
      formatMs(s.p90Ms),
      formatMs(s.minMs),
      formatRatio(s.medianMs / floorSummary.medianMs),
    ];
    const filesWritten = layout.controllersOn === 2 ? 'cpu.max, memory.max' : 'memory.limit_in_bytes, cpu.cfs_period_us, cpu.cfs_quota_us';
    return {
      name: 'update',
      description: this.description,
      tables: [
        {
          title: `Limit update round trip on cgroup v${layout.controllersOn} (times in ms)`,
          columns: ['operation', 'n', 'median', 'p90', 'min', '× floor'],
          rows: [
            row('floor: native write + read of pids.max', floorSummary),
            row('GET /healthz (HTTP alone)', healthSummary),
            row('PATCH {pidsLimit}', pidsSummary),
            row(`PATCH {cpus, memory} (${filesWritten})`, cpuMemorySummary),
          ],
        },
      ],
      targets: [
        { what: 'PATCH {pidsLimit} median', target: `< ${TARGET_MS} ms`, measured: `${formatMs(pidsSummary.medianMs)} ms`, met: pidsSummary.medianMs < TARGET_MS },
        { what: 'PATCH {cpus, memory} median', target: `< ${TARGET_MS} ms`, measured: `${formatMs(cpuMemorySummary.medianMs)} ms`, met: cpuMemorySummary.medianMs < TARGET_MS },
      ],
      notes: [
        `${ROUNDS} rounds after ${WARMUP_ROUNDS} warm-up rounds, the four operations rotating; values alternate so every write changes the file.`,
        'PATCH times are client-side over one keep-alive loopback connection: request sent to last body byte. The answer already holds the read-back limits.',
        'The floor is in-process: no HTTP, no JSON, no validation, one file.',
      ],
      data: {
        cgroupVersion: layout.controllersOn,
        floor: floorSummary,
        pids: pidsSummary,
        cpuMemory: cpuMemorySummary,
        healthz: healthSummary,
        ratios: { pidsToFloor: pidsSummary.medianMs / floorSummary.medianMs, cpuMemoryToFloor: cpuMemorySummary.medianMs / floorSummary.medianMs },
        samplesMs: { floor, pids, cpuMemory, healthz: health },
      },
    };
  },
};
