/**
 * The C floor: native/build/Release/capstan-readfloor reads a list of files with bare
 * open/read/close and reports the wall time of each pass. Whatever the collector spends beyond it
 * is capstan's own overhead (N-API, UTF-8 decoding, parsing, deriving).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '../helpers/repo';
import type { Disposable } from './harness';

export const READFLOOR = path.join(REPO_ROOT, 'native', 'build', 'Release', 'capstan-readfloor');

export interface FloorRun {
  files: number;
  /** Files that failed to open or read in the last pass (vanished cgroups, absent controllers). */
  failures: number;
  /** One entry per pass. Units: milliseconds. */
  passesMs: number[];
  /** --kept: files read through an fd held open across passes (0 for the open/read/close floor). Units: files. */
  kept: number;
}

/** A list file of paths the floor reads; rewritten whenever the batch changes. */
export class FloorList implements Disposable {
  readonly label: string;
  /** A private temporary directory: the list file lives here, and callers may put scratch files in it. */
  readonly directory: string;
  readonly file: string;
  private written: readonly string[] | undefined;

  constructor() {
    this.directory = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-bench-floor-'));
    this.file = path.join(this.directory, 'paths.txt');
    this.label = `floor list ${this.file}`;
    if (!fs.existsSync(READFLOOR)) throw new Error(`${READFLOOR} is missing: run \`npm run build\` first`);
  }

  /** Runs `passes` read passes over `paths` in one capstan-readfloor process. */
  run(paths: readonly string[], passes: number, mode: 'open-read-close' | 'kept' = 'open-read-close'): FloorRun {
    if (this.written !== paths) {
      fs.writeFileSync(this.file, paths.join('\n') + '\n');
      this.written = paths;
    }
    const args = mode === 'kept' ? ['--kept', this.file, String(passes)] : [this.file, String(passes)];
    const output = execFileSync(READFLOOR, args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    const parsed = JSON.parse(output) as { files: number; iterations: number; failures: number; kept: number; nanoseconds: number[] };
    return { files: parsed.files, failures: parsed.failures, kept: parsed.kept, passesMs: parsed.nanoseconds.map((ns) => ns / 1e6) };
  }

  async dispose(): Promise<void> {
    this.disposeSync();
  }

  disposeSync(): void {
    fs.rmSync(this.directory, { recursive: true, force: true });
  }
}
