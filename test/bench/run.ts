/**
 * `npm run bench [-- NAME...]`: runs every `*.bench.js` next to this file (or only those named),
 * prints a table per benchmark on stdout, and writes build/bench-results.json.
 *
 * Adding a benchmark is one file: `test/bench/<name>.bench.ts` exporting `benchmark: Benchmark`.
 * Whatever a benchmark registers with `context.own()` is released when it ends, fails, or the run
 * is interrupted (SIGINT/SIGTERM), so no cgroup or process outlives the run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from '../helpers/repo';
import { machineDescription, renderResult, type Benchmark, type BenchContext, type BenchResult, type Disposable } from './harness';

const RESULTS_FILE = path.join(REPO_ROOT, 'build', 'bench-results.json');

/** Resources alive right now, released in reverse order of acquisition. */
const live: Disposable[] = [];
/** The benchmark running now (for messages about stray errors). */
let current: string | undefined;
const report = {
  startedAt: new Date().toISOString(),
  finishedAt: '',
  machine: {} as Record<string, unknown>,
  results: [] as Array<BenchResult | { name: string; error: string }>,
};

function writeReport(): void {
  report.finishedAt = new Date().toISOString();
  report.machine['loadAverageAfter'] = machineDescription()['loadAverage'];
  fs.mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
  fs.writeFileSync(RESULTS_FILE, JSON.stringify(report, null, 2) + '\n');
  console.error(`bench: results written to ${path.relative(process.cwd(), RESULTS_FILE) || RESULTS_FILE}`);
}

function releaseAllSync(): void {
  while (live.length > 0) {
    const resource = live.pop()!;
    try {
      resource.disposeSync();
    } catch (error) {
      console.error(`bench: could not release ${resource.label}: ${(error as Error).message}`);
    }
  }
}

async function releaseAll(): Promise<string[]> {
  const problems: string[] = [];
  while (live.length > 0) {
    // Stays listed until released, so a signal arriving meanwhile still force-releases it.
    const resource = live[live.length - 1]!;
    try {
      await resource.dispose();
    } catch (error) {
      problems.push(`${resource.label}: ${(error as Error).message}`);
      try {
        resource.disposeSync();
      } catch {
        // Reported above.
      }
    } finally {
      const index = live.lastIndexOf(resource);
      if (index !== -1) live.splice(index, 1);
    }
  }
  return problems;
}

function installSignalCleanup(): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      console.error(`\nbench: ${signal} received, removing benchmark cgroups and processes`);
      releaseAllSync();
      process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
    });
  }
  // A stray timer or promise of a benchmark that already returned would otherwise kill the run
  // with a bare stack trace: say whose it probably was, release everything, keep what was measured.
  const fatal = (kind: string) => (error: unknown) => {
    const during = current ? `while ${current} ran (or from a callback an earlier benchmark left behind)` : 'between benchmarks';
    console.error(`bench: ${kind} ${during}: ${(error as Error)?.stack ?? String(error)}`);
    if (current) report.results.push({ name: current, error: `${kind}: ${(error as Error)?.message ?? String(error)}` });
    releaseAllSync();
    writeReport();
    process.exit(1);
  };
  process.on('uncaughtException', fatal('uncaught exception'));
  process.on('unhandledRejection', fatal('unhandled rejection'));
  // Last resort for process.exit elsewhere.
  process.once('exit', releaseAllSync);
}

function discoverBenchmarks(): Benchmark[] {
  const files = fs.readdirSync(__dirname).filter((name) => name.endsWith('.bench.js'));
  const benchmarks: Benchmark[] = [];
  for (const file of files) {
    const exported = (require(path.join(__dirname, file)) as { benchmark?: Benchmark }).benchmark;
    if (!exported || typeof exported.run !== 'function' || typeof exported.name !== 'string') {
      throw new Error(`${file} does not export \`benchmark: Benchmark\``);
    }
    benchmarks.push(exported);
  }
  return benchmarks.sort((a, b) => (a.order ?? 100) - (b.order ?? 100) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function choose(all: Benchmark[], names: string[]): Benchmark[] {
  if (names.length === 0) return all;
  const unknown = names.filter((name) => !all.some((b) => b.name === name));
  if (unknown.length > 0) {
    throw new Error(`unknown benchmark ${unknown.join(', ')}; available: ${all.map((b) => b.name).join(', ')}`);
  }
  // In the order given on the command line.
  return names.map((name) => all.find((b) => b.name === name)!);
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const all = discoverBenchmarks();
  if (args.includes('--help') || args.includes('-h') || args.includes('--list')) {
    console.log('Usage: npm run bench [-- NAME...]\n\nBenchmarks:');
    for (const b of all) console.log(`  ${b.name.padEnd(10)} ${b.description}`);
    return 0;
  }
  const selected = choose(all, args);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('the benchmarks create real cgroups and start the agent: run them as root');
  }
  installSignalCleanup();

  const { loadAverage: loadAverageBefore, ...machine } = machineDescription();
  report.startedAt = new Date().toISOString();
  report.machine = { ...machine, loadAverageBefore };
  const results = report.results;
  let failed = false;
  for (const benchmark of selected) {
    const context: BenchContext = {
      own: (resource) => {
        live.push(resource);
        return resource;
      },
      log: (message) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`),
    };
    const began = Date.now();
    current = benchmark.name;
    context.log(`${benchmark.name}: starting (${benchmark.description})`);
    try {
      const result = await benchmark.run(context);
      results.push(result);
      console.log(renderResult(result) + '\n');
    } catch (error) {
      failed = true;
      const message = (error as Error).stack ?? String(error);
      results.push({ name: benchmark.name, error: message });
      console.error(`bench: ${benchmark.name} failed: ${message}`);
    } finally {
      const problems = await releaseAll();
      for (const problem of problems) {
        failed = true;
        console.error(`bench: cleanup after ${benchmark.name}: ${problem}`);
      }
      context.log(`${benchmark.name}: done in ${((Date.now() - began) / 1000).toFixed(1)} s`);
      current = undefined;
    }
  }

  writeReport();
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`bench: ${(error as Error).message}`);
    releaseAllSync();
    process.exitCode = 1;
  },
);
