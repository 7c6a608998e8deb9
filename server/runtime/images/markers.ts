/**
 * Writes overlayfs whiteouts (0/0 character devices) and opaque-directory xattrs into an extracted
 * layer through `capstan-shim overlay-markers`, because Node has neither mknod nor setxattr.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ImageError } from './errors';
import type { LayerMarkers } from './extract';

export type MarkerWriter = (layerRoot: string, markers: LayerMarkers) => Promise<void>;

/** native/build/Release/capstan-shim of this checkout. */
export function shimExecutable(): string {
  for (let directory = __dirname; ; directory = path.dirname(directory)) {
    if (fs.existsSync(path.join(directory, 'package.json')) && fs.existsSync(path.join(directory, 'native'))) {
      return path.join(directory, 'native', 'build', 'Release', 'capstan-shim');
    }
    if (path.dirname(directory) === directory) return path.resolve('native/build/Release/capstan-shim');
  }
}

/**
 * Runs `capstan-shim ARGS` with `lines` on stdin; resolves with its stdout. A failure (the shim's
 * JSON report on stdout, exit status 1) becomes an ImageError that says what it was doing and why.
 */
export async function runShimWithLines(shim: string, args: readonly string[], lines: readonly string[], verb: 'write' | 'read', what: string): Promise<string> {
  const child = spawn(shim, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(new ImageError(500, 'shim_missing', `cannot run ${shim} to ${verb} ${what}: ${error.code ?? error.message} (build it with npm run build)`)),
    );
    child.once('close', (code) => resolve(code ?? 1));
  });
  child.stdin.on('error', () => undefined); // a shim that failed early closes its stdin: its report says why
  child.stdin.end(lines.join('\n') + '\n');
  if ((await exited) !== 0) {
    let message = output.trim();
    try {
      message = (JSON.parse(message) as { message: string }).message;
    } catch {
      // Not the shim's JSON: keep the text.
    }
    throw new ImageError(500, 'layer_markers_failed', `${verb === 'write' ? 'writing' : 'reading'} ${what} failed: ${message}`);
  }
  return output;
}

export function shimMarkerWriter(shim = shimExecutable()): MarkerWriter {
  return async (layerRoot, markers) => {
    const lines = [...markers.opaqueDirectories.map((dir) => `o ${dir}`), ...markers.whiteouts.map((file) => `w ${file}`)];
    if (lines.length === 0) return;
    for (const line of lines) {
      // One path per line: a newline inside a name could not be passed (and no real image has one).
      if (line.slice(2).includes('\n')) throw new ImageError(400, 'unsafe_entry', `refusing a whiteout for a name with a newline: ${JSON.stringify(line.slice(2))}`);
    }
    await runShimWithLines(shim, ['overlay-markers', layerRoot], lines, 'write', `overlay whiteouts in ${layerRoot}`);
  };
}
