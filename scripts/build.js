#!/usr/bin/env node
'use strict';
// Builds what is stale: the native addon (node-gyp), the TypeScript (tsc, incremental) and the web
// bundle (esbuild). Run by `npm install`, `npm start` and `npm test`, so it must be quick when
// nothing changed.
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { BUILD_PACKAGES, ensureDebianPackages } = require('./lib/debian');

const repo = path.resolve(__dirname, '..');
const quiet = process.argv.includes('--quiet');
const log = (message) => { if (!quiet) console.error(`capstan build: ${message}`); };

function newestMtimeMs(entries) {
  let newest = 0;
  const visit = (p) => {
    let stat;
    try { stat = fs.statSync(p); } catch { return; }
    if (stat.isDirectory()) {
      if (path.basename(p) === 'build') return;
      for (const name of fs.readdirSync(p)) visit(path.join(p, name));
    } else {
      newest = Math.max(newest, stat.mtimeMs);
    }
  };
  for (const entry of entries) visit(path.join(repo, entry));
  return newest;
}

function mtimeMs(relative) {
  try { return fs.statSync(path.join(repo, relative)).mtimeMs; } catch { return 0; }
}

function run(command, args) {
  execFileSync(command, args, { cwd: repo, stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit' });
}

function buildNative() {
  const outputs = ['native/build/Release/capstan.node', 'native/build/Release/capstan-readfloor', 'native/build/Release/capstan-shim', 'native/build/Release/capstan-client'];
  const built = Math.min(...outputs.map(mtimeMs));
  if (built > 0 && built >= newestMtimeMs(['native/src', 'native/binding.gyp'])) return;
  // The shim links libseccomp statically: on a fresh machine the build installs libseccomp-dev
  // itself (as root; otherwise it says what to install), so `npm install` works there too.
  ensureDebianPackages(BUILD_PACKAGES, { log });
  log('native addon (node-gyp)');
  const args = [require.resolve('node-gyp/bin/node-gyp.js'), 'rebuild', '-C', 'native'];
  // Debian's nodejs ships its headers in /usr/include/node; point node-gyp there so it never tries
  // to download them (no network here beyond the package registries).
  if (fs.existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
  run(process.execPath, args);
}

function buildTypeScript() {
  log('TypeScript (tsc)');
  run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json']);
  // tsc does not mark outputs executable; the bin (and main.js, runnable by itself) must be.
  for (const bin of ['build/server/cli/capstan.js', 'build/server/cli/main.js']) {
    if (fs.existsSync(path.join(repo, bin))) fs.chmodSync(path.join(repo, bin), 0o755);
  }
}

/** Newest mtime of the compiled JavaScript under build/server (tsc rewrites only what changed). */
function newestCompiledMtimeMs() {
  let newest = 0;
  const visit = (directory) => {
    for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
      const full = path.join(directory, entry.name);
      if (entry.isDirectory()) visit(full);
      else if (entry.name.endsWith('.js') && entry.name !== 'capstan-bundle.js') newest = Math.max(newest, fs.statSync(full).mtimeMs);
    }
  };
  visit(path.join(repo, 'build/server'));
  return newest;
}

/**
 * The CLI as one bundled file with V8's code cache (server/cli/capstan.ts says why), rebuilt when
 * tsc's output is newer or when this Node has no cache for it (the cache is per Node version).
 */
function buildCliBundle() {
  const bundle = 'build/server/cli/capstan-bundle.js';
  const cache = `${bundle}.${process.version}-${process.arch}.v8-cache`;
  const built = Math.min(mtimeMs(bundle), mtimeMs(cache));
  if (built > 0 && built >= newestCompiledMtimeMs() && built >= mtimeMs('scripts/lib/cli-bundle.js')) return;
  log('CLI bundle and code cache (esbuild, V8)');
  run(process.execPath, [path.join(repo, 'scripts/lib/cli-bundle.js')]);
}

/** What the page is built from: web/ and the server modules it imports (types and pure formatters). */
const WEB_INPUTS = [
  'web',
  'server/model',
  'server/cli/columns',
  'server/cli/format',
  'server/limits/units.ts',
  'server/limits/current.ts',
  'server/limits/service.ts',
  'server/api/live.ts',
  'server/api/socket.ts',
  'server/events/types.ts',
  'server/collector/history.ts',
  'server/runtime/shim-protocol.ts',
  'server/runtime/top.ts',
  'server/runtime/images/types.ts',
];
/** The shipped JavaScript must stay under this, gzipped (test/unit/web.bundle.test.ts checks it). Units: bytes. */
const WEB_JS_GZIP_BUDGET_BYTES = 300 * 1024;

function buildWeb() {
  const bundle = 'build/web/app.js';
  if (mtimeMs(bundle) > 0 && mtimeMs(bundle) >= newestMtimeMs(WEB_INPUTS)) return;
  // The page imports the server's types (model, socket contract, columns): type-check it against
  // them, so a server change that the page does not follow fails the build, not the browser.
  log('web type-check (tsc -p web)');
  run(process.execPath, [require.resolve('typescript/bin/tsc'), '--noEmit', '-p', 'web']);
  log('web bundle (esbuild)');
  const esbuild = require('esbuild');
  fs.mkdirSync(path.join(repo, 'build/web'), { recursive: true });
  esbuild.buildSync({
    entryPoints: [path.join(repo, 'web/main.ts')],
    bundle: true,
    minify: true,
    sourcemap: true,
    target: 'es2020',
    platform: 'browser',
    format: 'iife',
    // chart.js and socket.io-client read it to drop their development-only code.
    define: { 'process.env.NODE_ENV': '"production"' },
    outfile: path.join(repo, bundle),
    logLevel: quiet ? 'error' : 'warning',
  });
  for (const name of fs.readdirSync(path.join(repo, 'web'))) {
    if (/\.(html|css|svg|ico)$/.test(name)) {
      fs.copyFileSync(path.join(repo, 'web', name), path.join(repo, 'build/web', name));
    }
  }
  const gzipped = require('node:zlib').gzipSync(fs.readFileSync(path.join(repo, bundle)), { level: 9 }).length;
  log(`web bundle: ${(gzipped / 1024).toFixed(1)} KiB gzipped (budget ${WEB_JS_GZIP_BUDGET_BYTES / 1024} KiB)`);
  if (gzipped > WEB_JS_GZIP_BUDGET_BYTES) throw new Error(`the web bundle is ${gzipped} bytes gzipped, over the ${WEB_JS_GZIP_BUDGET_BYTES}-byte budget`);
}

try {
  buildNative();
  buildTypeScript();
  buildCliBundle();
  buildWeb();
} catch (error) {
  console.error(`capstan build failed: ${error.message}`);
  process.exit(1);
}
