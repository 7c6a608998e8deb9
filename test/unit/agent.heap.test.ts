import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test from 'ava';
import { AGENT_NODE_OPTIONS } from '../../server/agent/heap';
import { PROGRAM, REPO_ROOT } from '../helpers/repo';

test('bin/capstan starts the agent with the Node options server/agent/heap.ts gives, and npm start goes through it', (t) => {
  const wrapper = fs.readFileSync(path.join(REPO_ROOT, 'bin', 'capstan'), 'utf8');
  const set = /^\s*CAPSTAN_AGENT_NODE_OPTIONS=(.*)$/m.exec(wrapper);
  t.is(set?.[1], AGENT_NODE_OPTIONS);
  const packageJson = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  t.regex(packageJson.scripts['start']!, /(^|&& )bin\/capstan agent$/);
});

test('`bin/capstan agent` reaches the agent command with those options first in NODE_OPTIONS, the caller\'s after them', (t) => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-heap-test-'));
  t.teardown(() => fs.rmSync(directory, { recursive: true, force: true }));
  // Preloaded by the agent's node through the caller's NODE_OPTIONS: says what node was given.
  const preload = path.join(directory, 'show-options.js');
  fs.writeFileSync(preload, 'process.stderr.write(`NODE_OPTIONS=${process.env.NODE_OPTIONS}\\n`);\n');
  const result = spawnSync(PROGRAM, ['agent', '--help'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: `--require ${preload}` } });
  t.is(result.status, 0, result.stderr);
  t.regex(result.stdout, /^Usage: capstan agent/);
  t.true(result.stderr.includes(`NODE_OPTIONS=${AGENT_NODE_OPTIONS} --require ${preload}\n`), result.stderr);
});
