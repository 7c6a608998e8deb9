/**
 * pull: `capstan pull` against `docker pull` of the same ~100 MiB image (four gzip layers of
 * incompressible data on the busybox base) from one private loopback docker-registry
 * (test/helpers/registry.ts), in one run (issue 17, item 5). Each round removes the image from
 * both stores and pulls it with each tool, in a new random order, so both download, verify and
 * extract every layer each time. Whole CLI processes are timed, as a user types them.
 *
 * Target: capstan at most 1.0× docker's median time.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { packTar } from '../../server/runtime/images/tar';
import { baseLayerEntries } from '../helpers/busybox-image';
import { pushBlob, pushManifest, sha256, startRegistry } from '../helpers/registry';
import { PROGRAM, REPO_ROOT } from '../helpers/repo';
import { BenchAgent } from './agent';
import { dockerUnavailable, startBenchDockerd } from './dockerd';
import { CgroupParent, TempDirectory } from './resources';
import { formatMs, formatRatio, interleave, summarize, type Benchmark, type BenchResult } from './harness';

const ROUNDS = Number(process.env['CAPSTAN_BENCH_PULL_ROUNDS'] ?? 4);
const LAYERS = 4;
/** Random (incompressible) bytes per layer. Units: bytes. */
const LAYER_BYTES = 25 * 1024 * 1024;
const TARGET = 1.0;

interface DebianHelpers {
  ensureDebianPackages(names: string[], options?: { log?: (message: string) => void }): void;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const debian = require(path.join(REPO_ROOT, 'scripts/lib/debian.js')) as DebianHelpers;

function run(command: string, args: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, [...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.trim()}`))));
  });
}

/** Pushes a docker v2 schema 2 image: the busybox base and LAYERS layers of random data. Resolves with its total compressed size. */
async function pushBigImage(registry: string, repository: string): Promise<number> {
  const tars = [packTar(baseLayerEntries())];
  for (let i = 0; i < LAYERS; i++) tars.push(packTar([{ name: `data-${i}.bin`, type: 'file', mode: 0o644, content: randomBytes(LAYER_BYTES) }]));
  const layers = tars.map((tar) => gzipSync(tar, { level: 1 }));
  for (const layer of layers) await pushBlob(registry, repository, layer);
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: tars.map((tar) => sha256(tar)) } });
  await pushBlob(registry, repository, Buffer.from(config));
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha256(config), size: Buffer.byteLength(config) },
    layers: layers.map((layer) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: sha256(layer), size: layer.length })),
  });
  await pushManifest(registry, repository, 'big', 'application/vnd.docker.distribution.manifest.v2+json', manifest);
  return layers.reduce((sum, layer) => sum + layer.length, 0);
}

export const benchmark: Benchmark = {
  name: 'pull',
  description: 'capstan pull vs docker pull of a ~100 MiB, 5-layer image from a private loopback docker-registry',
  async run(context): Promise<BenchResult> {
    debian.ensureDebianPackages(['busybox-static', 'docker.io', 'docker-registry'], { log: context.log });
    const unavailable = dockerUnavailable();
    if (unavailable) throw new Error(`the pull benchmark compares against docker, which cannot run here: ${unavailable}`);
    const work = context.own(new TempDirectory('capstan-bench-pull-'));
    const registry = await startRegistry(path.join(work.path, 'registry'));
    context.own({ label: `docker-registry pid ${registry.pid}`, dispose: () => registry.stop(), disposeSync: () => registry.stopSync() });
    const parent = context.own(new CgroupParent(`/capstan-test-bench-pull-${randomBytes(4).toString('hex')}`));
    const agent = await BenchAgent.start(['--cgroup-parent', parent.path, '--docker-host', 'none', '--podman-host', 'none'], (a) => context.own(a));
    const docker = await startBenchDockerd(context);
    context.log('pull: pushing the image');
    const compressedBytes = await pushBigImage(registry.address, 'bench/big');
    const name = `${registry.address}/bench/big:big`;

    // As users type it: the `capstan` program (bin/capstan), whose agent runs the pull.
    const capstan = (args: string[]): Promise<number> => run(PROGRAM, ['--state-dir', agent.stateDir, ...args]);
    const dockerCmd = (args: string[]): Promise<number> => run('/usr/bin/docker', ['-H', docker.address, ...args]);
    const samples: Record<'capstan' | 'docker', number[]> = { capstan: [], docker: [] };
    let recording = false;
    const steps = [
      async () => {
        const ms = await capstan(['pull', '-q', name]);
        if (recording) samples.capstan.push(ms);
        await capstan(['image', 'rm', name]);
      },
      async () => {
        const ms = await dockerCmd(['pull', '-q', name]);
        if (recording) samples.docker.push(ms);
        await dockerCmd(['image', 'rm', name]);
      },
    ];
    context.log(`pull: 1 warm-up round, then ${ROUNDS} measured`);
    await interleave(1, steps, { shuffle: true });
    recording = true;
    await interleave(ROUNDS, steps, { shuffle: true });

    const mine = summarize(samples.capstan);
    const theirs = summarize(samples.docker);
    const ratio = mine.medianMs / theirs.medianMs;
    return {
      name: 'pull',
      description: benchmark.description,
      tables: [
        {
          title: `pull of ${(compressedBytes / 1024 / 1024).toFixed(1)} MiB compressed in ${LAYERS + 1} layers (median, p90 of ${ROUNDS} rounds)`,
          columns: ['tool', 'median', 'p90', 'min', 'max'],
          rows: [
            ['capstan pull', formatMs(mine.medianMs), formatMs(mine.p90Ms), formatMs(mine.minMs), formatMs(mine.maxMs)],
            ['docker pull', formatMs(theirs.medianMs), formatMs(theirs.p90Ms), formatMs(theirs.minMs), formatMs(theirs.maxMs)],
            ['capstan / docker', formatRatio(ratio), '', '', ''],
          ],
        },
      ],
      targets: [{ what: 'capstan pull / docker pull (medians)', target: `≤ ${TARGET.toFixed(1)}×`, measured: formatRatio(ratio), met: ratio <= TARGET }],
      notes: ['Both pull from the same registry over loopback; each round starts with the image absent from both stores.'],
      data: { samples, compressedBytes, rounds: ROUNDS },
    };
  },
};
