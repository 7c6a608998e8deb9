/**
 * The `capstan` program's bundle (server/cli/capstan.ts, scripts/lib/cli-bundle.js): it is built,
 * V8 accepts its code cache under this Node, and the agent's packages are not part of it.
 */
import test from 'ava';
import * as fs from 'node:fs';
import { BUNDLE_FILE, codeCacheFile, loadBundle } from '../../server/cli/capstan';

test('the build makes the CLI bundle and a code cache that V8 accepts', (t) => {
  t.true(fs.existsSync(codeCacheFile()), `${codeCacheFile()} is missing: scripts/build.js makes it`);
  const loaded = loadBundle();
  t.truthy(loaded, `${BUNDLE_FILE} is missing: scripts/build.js makes it`);
  t.false(loaded!.cacheRejected, 'V8 refused the code cache the build made for this Node');
  t.is(typeof loaded!.cli.runCli, 'function');
  t.is(typeof loaded!.cli.runFromProcess, 'function');
});

test('the bundle leaves the agent, its packages and the terminal view out', (t) => {
  const source = fs.readFileSync(BUNDLE_FILE, 'utf8');
  for (const name of ['express', 'prom-client', 'socket.io', 'socket.io-client', 'undici', 'systeminformation', 'terminal-kit']) {
    t.false(source.includes(`require("${name}")`), `the bundle requires ${name}`);
  }
  // The two modules kept out are required from tsc's output beside the bundle, and only there.
  t.regex(source, /require\("\.\/\.\.\/agent\/main\.js"\)/);
  t.regex(source, /require\("\.\/interactive\/index\.js"\)/);
  t.false(source.includes('capstan.node'), 'the native addon is loaded on the CLI path');
});
