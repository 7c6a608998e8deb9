/**
 * Running one command line of a CLI comparison (capstan against docker): its stdout, the first
 * non-blank line of its stderr and its exit code, never a rejection.
 */
import { execFile } from 'node:child_process';
import * as os from 'node:os';
import { DOCKER_CLI, type TestEngine } from './engines';
import { PROGRAM } from './repo';

export interface CommandAnswer {
  stdout: string;
  stderrFirstLine: string;
  /** null when killed (the timeout included). */
  code: number | null;
}

/** Debian's tools first, nothing from /usr/local (engines.ts says why). */
export const COMPARISON_ENV: NodeJS.ProcessEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: os.tmpdir() };

export function runCommandLine([command, ...args]: readonly string[], env: NodeJS.ProcessEnv = COMPARISON_ENV): Promise<CommandAnswer> {
  return new Promise((resolve) => {
    execFile(command!, args, { timeout: 120_000, maxBuffer: 16 * 1024 * 1024, env }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ stdout, stderrFirstLine: stderr.split('\n').find((line) => line.trim() !== '') ?? '', code });
    });
  });
}

/** `capstan ARGS` against the agent of `stateDir`, as a user starts it (see PROGRAM). */
export function capstanCommandLine(stateDir: string, args: readonly string[]): string[] {
  return [PROGRAM, '--state-dir', stateDir, ...args];
}

/** docker's twin: the test's private dockerd, and `run`/`create` inside the test's cgroup parent without a network. */
export function dockerCommandLine(engine: TestEngine, args: readonly string[]): string[] {
  const [command, ...rest] = args;
  const extra = command === 'run' || command === 'create' ? engine.runFlags : [];
  return [DOCKER_CLI, '-H', engine.address, ...(command === undefined ? [] : [command]), ...extra, ...rest];
}
