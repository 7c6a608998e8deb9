/**
 * `top`: the processes of a container's cgroup, shown by the host's own `ps`, as docker does
 * (moby daemon/top_unix.go): run `ps ARGS`, keep the rows whose PID is in the cgroup, and join any
 * extra fields into the last column. Parsing is pure; runPs does the I/O.
 */
import { execFile } from 'node:child_process';
import { RuntimeError } from './errors';

export interface TopResult {
  Titles: string[];
  Processes: string[][];
}

/** docker's split of ps_args: on spaces, empty pieces dropped. */
export function splitPsArgs(psArgs: string): string[] {
  return psArgs.split(' ').filter((word) => word !== '');
}

/** Only a "pid=" rename of the PID column is allowed (it would hide the column the rows are matched on). */
export function validatePsArgs(psArgs: string): void {
  for (const match of psArgs.matchAll(/\s+(\S*)=\s*(PID)/g)) {
    if (match[1] !== 'pid') throw new RuntimeError(400, 'invalid_ps_args', `specifying "${match[1]}=${match[2]}" is not allowed`);
  }
}

/** Rows of `ps` output whose PID column is in `pids`. */
export function parsePsOutput(output: string, pids: ReadonlySet<number>): TopResult {
  const lines = output.split('\n');
  const titles = (lines[0] ?? '').trim().split(/\s+/).filter(Boolean);
  const pidIndex = titles.indexOf('PID');
  if (pidIndex === -1) throw new RuntimeError(400, 'no_pid_field', `Couldn't find PID field in ps output`);
  const processes: string[][] = [];
  for (const line of lines.slice(1)) {
    if (line.trim() === '') continue;
    const fields = line.trim().split(/\s+/);
    const pidText = fields[pidIndex];
    const pid = Number(pidText);
    if (pidText === undefined || !/^\d+$/.test(pidText)) {
      throw new RuntimeError(500, 'unexpected_pid', `Unexpected pid '${pidText ?? ''}' in ps output`);
    }
    if (!pids.has(pid)) continue;
    const row = fields.slice(0, titles.length - 1);
    row.push(fields.slice(titles.length - 1).join(' '));
    processes.push(row);
  }
  return { Titles: titles, Processes: processes };
}

/** Runs the host's ps with `args` (no shell). */
export function runPs(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ps', [...args], { maxBuffer: 16 * 1024 * 1024, timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) {
        reject(new RuntimeError(400, 'ps_failed', `Error running ps: ${(stderr || error.message).trim()}`));
        return;
      }
      resolve(stdout);
    });
  });
}
