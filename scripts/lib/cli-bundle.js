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

/**
 * Answers shaped like the agent's, for the warm-up below: enough for each command to parse and
 * print something, so the code that every call of it runs (request, JSON, rendering) is compiled
 * and lands in the cache. Anything else gets a 404 in the agent's error shape.
 */
function warmUpAnswer(pathname) {
  const id = 'c0ffee'.padEnd(64, '0');
  if (pathname === '/api/v1/containers/json') {
    return [{ Id: id, Names: ['/warm'], Image: 'busybox', ImageID: '', Command: 'sleep 1', Created: 1_700_000_000, State: 'running', Status: 'Up 1 second', Ports: [], Labels: {}, Mounts: [], Owner: 'capstan' }];
  }
  if (pathname === '/api/v1/containers') return { timestampMs: Date.now(), containers: [] };
  if (pathname.endsWith('/top')) return { Titles: ['UID', 'PID', 'CMD'], Processes: [['root', '1', 'sleep 1']] };
  if (pathname.endsWith('/json')) return [{ Id: id, Name: '/warm', State: { Status: 'running', Running: true }, Config: {}, HostConfig: {}, NetworkSettings: { Ports: {} } }];
  return undefined;
}

/** Runs a few commands against a stand-in agent on loopback (errors are expected and ignored). */
async function warmUp(cli) {
  const http = require('node:http');
  const server = http.createServer((request, response) => {
    const pathname = new URL(request.url, 'http://agent').pathname;
    if (pathname.endsWith('/logs')) {
      response.writeHead(200, { 'content-type': 'application/x-ndjson' });
      response.end(JSON.stringify({ time: new Date().toISOString(), stream: 'stdout', log: 'warm\n' }) + '\n');
      return;
    }
    let answer = warmUpAnswer(pathname);
    // inspect asks for one container's document, not a list.
    if (Array.isArray(answer) && pathname.endsWith('/json') && pathname !== '/api/v1/containers/json') answer = answer[0];
    const status = answer === undefined ? 404 : 200;
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(answer ?? { error: { code: 'no_such_container', message: 'No such container: warm' } }));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const sink = { write: () => true };
  const env = { CAPSTAN_HOST: `http://127.0.0.1:${server.address().port}`, CAPSTAN_TOKEN: 'warm-up' };
  const deps = { ...cli.processDeps(), stdout: sink, stderr: sink, env };
  const commands = [['--help'], ['ps', '--help'], ['ps'], ['ps', '-a', '--format', '{{.Names}}\t{{.Status}}'], ['inspect', 'warm'], ['inspect', '--format', '{{.Name}} {{json .State}}', 'warm'], ['top', 'warm'], ['port', 'warm'], ['logs', 'warm'], ['stats', '--no-stream'], ['run', '--rm', 'image', 'true']];
  try {
    for (const argv of commands) {
      try {
        await cli.runCli(argv, deps);
      } catch {
        // A stand-in's answer a command did not like: its code is compiled all the same.
      }
    }
  } finally {
    server.close();
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
