import * as fs from 'node:fs';
import * as path from 'node:path';

/** The repository root, found from the compiled test file (build/test/...) or the source. */
export const REPO_ROOT = (() => {
  let directory = __dirname;
  while (!fs.existsSync(path.join(directory, 'package.json'))) {
    const parent = path.dirname(directory);
    if (parent === directory) throw new Error('cannot find the repository root');
    directory = parent;
  }
  return directory;
})();

/** The `capstan` program as package.json's "bin" names it: the bundled CLI (server/cli/capstan.ts). */
export const CLI = path.join(REPO_ROOT, 'build', 'server', 'cli', 'capstan.js');
/**
 * The `capstan` program as a user starts it (package.json's "bin"): the native client, which has
 * the agent run the commands it serves and becomes the Node CLI (CLI above) for the others.
 */
export const PROGRAM = path.join(REPO_ROOT, 'bin', 'capstan');

/** Integration tests may skip on a laptop without root, never in CI. */
export function requireCapability(ok: boolean, what: string): boolean {
  if (ok) return true;
  if (process.env['CI'] === 'true') throw new Error(`missing capability in CI: ${what}`);
  return false;
}
