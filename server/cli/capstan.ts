#!/usr/bin/env -S CAPSTAN_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS} NODE_EXTRA_CA_CERTS= node
/**
 * The Node CLI: what the `capstan` program (bin/capstan, the native client of
 * native/src/client/main.c) becomes for the commands the agent does not serve, and what runs when
 * started as `node build/server/cli/capstan.js`. It starts the CLI of main.ts from one file with
 * V8's code already compiled, because a CLI starts on every call and Node spends most of a short
 * command's time finding, reading and compiling modules:
 *
 * - capstan-bundle.js: main.ts and every module the commands use, bundled by esbuild into one
 *   file (scripts/lib/cli-bundle.js, run by scripts/build.js when the compiled tree is newer). The
 *   command modules stay lazy inside it (commands/index.ts); the agent's server and the terminal
 *   view stay outside, as the compiled modules beside it, loaded only by `agent` and `stats -i`.
 * - capstan-bundle.js.<node version>-<arch>.v8-cache: V8's code cache for that file, made at build
 *   time after running a few commands. Node 20 has no module.enableCompileCache() (Node 22 does);
 *   vm.Script's cachedData is the same mechanism. V8 checks the cache against the source, its
 *   version and its flags, and ignores one that does not match (then the bundle compiles as usual).
 *
 * Without the bundle (a tree built by tsc alone), the compiled main.js runs instead: same CLI.
 *
 * The #! line: see main.ts (NODE_EXTRA_CA_CERTS is set aside; main.ts restores it for children).
 */
import * as fs from 'node:fs';
import * as nodeModule from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';

type Cli = typeof import('./main');

export const BUNDLE_FILE = path.join(__dirname, 'capstan-bundle.js');

/** Where the code cache for `bundleFile` made by this Node lives (V8 rejects another version's). */
export function codeCacheFile(bundleFile: string = BUNDLE_FILE): string {
  return `${bundleFile}.${process.version}-${process.arch}.v8-cache`;
}

export interface LoadedBundle {
  cli: Cli;
  /** The compiled script, so the build can ask V8 for its code cache after a warm-up. */
  script: vm.Script;
  /** Whether V8 refused the code cache (another Node, other flags, another bundle). */
  cacheRejected: boolean;
}

/** Compiles and runs the bundle as a CommonJS module; undefined when there is no bundle. */
export function loadBundle(bundleFile: string = BUNDLE_FILE, useCache = true): LoadedBundle | undefined {
  let source: string;
  try {
    source = fs.readFileSync(bundleFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  // main.ts's #! line, kept by esbuild, is no JavaScript inside the module wrapper.
  if (source.startsWith('#!')) source = '//' + source.slice(2);
  let cachedData: Buffer | undefined;
  if (useCache) {
    try {
      cachedData = fs.readFileSync(codeCacheFile(bundleFile));
    } catch {
      // No cache for this Node: compile from source.
    }
  }
  const script = new vm.Script(nodeModule.wrap(source), { filename: bundleFile, ...(cachedData ? { cachedData } : {}) });
  const bundleModule = { exports: {} as Cli };
  // Requires from the bundle (Node's modules, packages, the agent's modules) resolve from its folder.
  const bundleRequire = nodeModule.createRequire(bundleFile);
  const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: unknown, filename: string, dirname: string) => void;
  wrapper.call(bundleModule.exports, bundleModule.exports, bundleRequire, bundleModule, bundleFile, path.dirname(bundleFile));
  return { cli: bundleModule.exports, script, cacheRejected: cachedData !== undefined && script.cachedDataRejected === true };
}

if (require.main === module) {
  const cli = loadBundle()?.cli ?? (require('./main') as Cli);
  cli.runFromProcess();
}
