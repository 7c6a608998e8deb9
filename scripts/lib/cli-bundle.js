'use strict';
// Bundles the `capstan` CLI into build/server/cli/capstan-bundle.js and makes V8's code cache for
// it (see server/cli/capstan.ts for why). Run by scripts/build.js after tsc, in a process of its
// own: esbuild's plugins need its asynchronous API, and the warm-up below runs CLI code.
const fs = require('node:fs');
const path = require('node:path');

const repo = path.resolve(__dirname, '..', '..');
const outfile = path.join(repo, 'build/server/cli/capstan-bundle.js');

/**
 * Modules that stay out of the bundle, loaded from tsc's output beside it when a command needs
 * them: the agent (express, socket.io, prom-client, the native addon) and the terminal view
 * (terminal-kit, socket.io-client).
 */
const KEPT_OUT = ['server/agent/main', 'server/cli/interactive/index'];

/** Imports of a kept-out module become requires of its compiled file, relative to the bundle. */
const keepOut = {
  name: 'capstan-keep-out',
  setup(build) {
    build.onResolve({ filter: /^\./ }, (args) => {
      const target = path.relative(repo, path.resolve(args.resolveDir, args.path)).replace(/\.(ts|js)$/, '');
      // `../interactive` names server/cli/interactive/index.
      const kept = KEPT_OUT.find((module) => target === module || `${target}/index` === module);
      if (kept === undefined) return undefined;
      const compiled = path.join(repo, 'build', `${kept}.js`);
      return { path: './' + path.relative(path.dirname(outfile), compiled), external: true };
    });
  },
};

/** A few commands that need no agent, so the cache holds the code every call runs (flags, help, endpoint). */
async function warmUp(cli) {
  const sink = { write: () => true };
  const deps = { ...cli.processDeps(), stdout: sink, stderr: sink, env: { CAPSTAN_STATE_DIR: path.join(repo, 'build', 'no-agent-here') } };
  for (const argv of [['--help'], ['ps', '--help'], ['ps'], ['inspect', '--format', '{{.Name}} {{json .State}}', 'x'], ['run', '--rm', 'image', 'true'], ['logs', 'x'], ['top', 'x'], ['port', 'x'], ['stats', '--no-stream']]) {
    await cli.runCli(argv, deps);
  }
}

async function main() {
  const esbuild = require('esbuild');
  await esbuild.build({
    entryPoints: [path.join(repo, 'server/cli/main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // Packages load from node_modules as they would from tsc's output.
    packages: 'external',
    plugins: [keepOut],
    logLevel: 'error',
  });
  const { loadBundle, codeCacheFile } = require(path.join(repo, 'build/server/cli/capstan.js'));
  for (const name of fs.readdirSync(path.dirname(outfile))) {
    if (name.startsWith(path.basename(outfile) + '.') && name.endsWith('.v8-cache')) fs.rmSync(path.join(path.dirname(outfile), name));
  }
  const loaded = loadBundle(outfile, false);
  await warmUp(loaded.cli);
  const cache = codeCacheFile(outfile);
  fs.writeFileSync(cache + '.tmp', loaded.script.createCachedData());
  fs.renameSync(cache + '.tmp', cache);
}

main().catch((error) => {
  console.error(`capstan build: CLI bundle: ${error.stack || error.message}`);
  process.exit(1);
});
