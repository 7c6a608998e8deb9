/**
 * Files replaced atomically: write a temporary sibling, fsync it, rename it over the target. A
 * crash leaves the old or the new content, never half of one. Used for every piece of state the
 * agent keeps on disk (tokens, agent.json, container specs, image records).
 */
import * as fs from 'node:fs';

export function writeFileAtomic(file: string, data: string, mode = 0o600): void {
  const temporary = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(temporary, 'w', mode);
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temporary, file);
}

let temporaryCounter = 0;

/**
 * writeFileAtomic off the JS thread (fsync can take tens of milliseconds on a busy disk): the
 * same write, fsync, rename, on libuv's pool. Concurrent writes to one file must be chained by
 * the caller; each uses its own temporary name.
 */
export async function writeFileAtomicAsync(file: string, data: string, mode = 0o600): Promise<void> {
  const temporary = `${file}.tmp-${process.pid}-${++temporaryCounter}`;
  const handle = await fs.promises.open(temporary, 'w', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.promises.rename(temporary, file);
}
