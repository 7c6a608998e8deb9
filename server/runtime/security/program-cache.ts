/**
 * Compiled seccomp filters, kept in `<state-dir>/seccomp/<sha256>.bpf`. libseccomp needs several
 * milliseconds per architecture to build a filter (10-25 ms for Docker's profile on x86_64 with
 * x86 and x32, measured here), and nearly every container has the same one. The first start with
 * a given filter has `capstan-shim seccomp-export` build it with libseccomp and write its BPF
 * program; later starts hand the shim that file (ShimConfig.seccomp.program), which it loads with
 * one seccomp(2) call (0.7 ms). The key covers the resolved filter and the shim binary (its size
 * and modification time): a new shim, with perhaps another libseccomp, builds its own.
 *
 * A failed export is logged and the start goes on without a program: the shim then builds the
 * filter itself, as it would without the cache.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ShimConfig } from '../shim-protocol';
import type { ResolvedSeccomp } from './seccomp';

const EXPORT_TIMEOUT_MS = 30_000;

export class SeccompProgramCache {
  private readonly pending = new Map<string, Promise<string | undefined>>();

  constructor(
    private readonly directory: string,
    private readonly shimBinary: string,
    private readonly log: (message: string) => void,
  ) {}

  /** The path of `filter`'s compiled program, exporting it first if need be; undefined when that failed. */
  programFor(filter: ResolvedSeccomp): Promise<string | undefined> {
    const key = this.keyOf(filter);
    const file = path.join(this.directory, `${key}.bpf`);
    if (fs.existsSync(file)) return Promise.resolve(file);
    let exporting = this.pending.get(key);
    if (!exporting) {
      exporting = this.export(filter, file).finally(() => this.pending.delete(key));
      this.pending.set(key, exporting);
    }
    return exporting;
  }

  private keyOf(filter: ResolvedSeccomp): string {
    let shim = '';
    try {
      const stat = fs.statSync(this.shimBinary);
      shim = `${stat.size}:${stat.mtimeMs}`;
    } catch {
      // No shim: the start fails on its own.
    }
    return createHash('sha256').update(shim).update('\0').update(JSON.stringify(filter)).digest('hex');
  }

  private async export(filter: ResolvedSeccomp, file: string): Promise<string | undefined> {
    const input = `${file}.json`;
    try {
      fs.mkdirSync(this.directory, { recursive: true, mode: 0o700 });
      fs.writeFileSync(input, JSON.stringify({ seccomp: filter }) + '\n', { mode: 0o600 });
      await new Promise<void>((resolve, reject) => {
        execFile(this.shimBinary, ['seccomp-export', input, file], { timeout: EXPORT_TIMEOUT_MS }, (error, _stdout, stderr) => {
          if (error) reject(new Error(stderr.trim() || error.message));
          else resolve();
        });
      });
      return file;
    } catch (error) {
      this.log(`capstan: warning: cannot compile a seccomp filter ahead (each start builds it instead): ${(error as Error).message}`);
      return undefined;
    } finally {
      fs.rmSync(input, { force: true });
    }
  }
}

/** ShimConfig.seccomp for a resolved filter: with its compiled program when there is one; null for none. */
export async function shimSeccomp(filter: ResolvedSeccomp | undefined, cache: SeccompProgramCache): Promise<NonNullable<ShimConfig['seccomp']> | null> {
  if (!filter) return null;
  const program = await cache.programFor(filter);
  return program ? { ...filter, program } : filter;
}
