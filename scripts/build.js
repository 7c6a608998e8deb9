#!/usr/bin/env node
'use strict';
// Builds what is stale: the native addon (node-gyp), the TypeScript (tsc, incremental) and the web
// bundle (esbuild). Run by `npm install`, `npm start` and `npm test`, so it must be quick when
// nothing changed.
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

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
  const outputs = ['native/build/Release/capstan.node', 'native/build/Release/capstan-readfloor'];
  const built = Math.min(...outputs.map(mtimeMs));
  if (built > 0 && built >= newestMtimeMs(['native/src', 'native/binding.gyp'])) return;
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
  // tsc does not mark outputs executable; the bin must be.
  const bin = path.join(repo, 'build/server/cli/main.js');
  if (fs.existsSync(bin)) fs.chmodSync(bin, 0o755);
}

function buildWeb() {
  const bundle = 'build/web/app.js';
  if (mtimeMs(bundle) > 0 && mtimeMs(bundle) >= newestMtimeMs(['web', 'server/model'])) return;
  log('web bundle (esbuild)');
  const esbuild = require('esbuild');
  fs.mkdirSync(path.join(repo, 'build/web'), { recursive: true });
  esbuild.buildSync({
    entryPoints: [path.join(repo, 'web/main.ts')],
    bundle: true,
    minify: true,
    sourcemap: true,
    target: 'es2020',
    outfile: path.join(repo, bundle),
    logLevel: quiet ? 'error' : 'warning',
  });
  for (const name of fs.readdirSync(path.join(repo, 'web'))) {
    if (/\.(html|css|svg|ico)$/.test(name)) {
      fs.copyFileSync(path.join(repo, 'web', name), path.join(repo, 'build/web', name));
    }
  }
}

try {
  buildNative();
  buildTypeScript();
  buildWeb();
} catch (error) {
  console.error(`capstan build failed: ${error.message}`);
  process.exit(1);
}
