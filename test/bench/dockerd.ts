/**
 * A private dockerd for benchmarks: the tests' own (test/helpers/engines.ts, startDockerd), so the
 * benchmarks run Debian's /usr/sbin/dockerd and /usr/bin/docker by path (not the unrelated client
 * earlier in PATH), with the daemon's data, socket, log and every container cgroup in places of its
 * own, and import the busybox image from a tarball Docker reads correctly (busyboxRootfsForEngines).
 *
 * The bench runner owns it: it is stopped, its containers removed and whatever a killed daemon
 * leaves (containerd, shims, mounts, cgroups) cleaned up when the benchmark ends or fails, and
 * synchronously on SIGINT/SIGTERM (engines.ts's exit hook does the same for one still starting).
 */
import { dockerAvailable, startDockerd, type TestEngine } from '../helpers/engines';
import type { BenchContext, Disposable } from './harness';

/** Why docker cannot run here, or undefined when it can (root, Debian's docker.io, busybox-static). */
export function dockerUnavailable(): string | undefined {
  return dockerAvailable() ? undefined : 'needs root, Debian docker.io (/usr/sbin/dockerd, /usr/bin/docker) and busybox-static';
}

/** Starts a private dockerd owned by the benchmark's context; resolves once it answers /_ping. */
export async function startBenchDockerd(context: BenchContext): Promise<TestEngine> {
  const engine = await startDockerd([]);
  const disposable: Disposable = {
    label: `dockerd pid ${engine.pid} (${engine.directory})`,
    async dispose() {
      await engine.stop();
      const left = engine.leftovers();
      if (left.length > 0) throw new Error(`left behind: ${left.join('; ')}`);
    },
    disposeSync() {
      engine.stopSync();
    },
  };
  context.own(disposable);
  return engine;
}

/** Runs the engine's CLI and resolves with its stdout; a non-zero status is an error naming the command. */
export async function dockerCli(engine: TestEngine, args: string[], timeoutMs?: number): Promise<string> {
  const result = await engine.cli(args, timeoutMs === undefined ? {} : { timeoutMs });
  if (result.status !== 0) throw new Error(`docker ${args.join(' ')} exited ${result.status}: ${result.stderr.trim()}`);
  return result.stdout;
}
