/**
 * scripts/lib/debian.js: an install of test packages never starts a system service (docker.io's
 * maintainer scripts would start the host's dockerd), and leaves the machine's own policy alone.
 * Tried on a policy path in a temp directory, never on /usr/sbin/policy-rc.d.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test from 'ava';
import { REPO_ROOT } from '../helpers/repo';

interface DebianHelpers {
  withoutServiceStarts<T>(install: () => T, policyPath?: string): T;
  OUR_POLICY: string;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const debian = require(path.join(REPO_ROOT, 'scripts/lib/debian.js')) as DebianHelpers;

function policyPath(): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-policy-'));
  return path.join(directory, 'policy-rc.d');
}

test('without a policy-rc.d, one that refuses every start (exit 101) is there during the install only', (t) => {
  const policy = policyPath();
  const seen = debian.withoutServiceStarts(() => ({ content: fs.readFileSync(policy, 'utf8'), mode: fs.statSync(policy).mode & 0o777 }), policy);
  t.regex(seen.content, /^#!\/bin\/sh\n[\s\S]*\nexit 101\n$/);
  t.is(seen.mode, 0o755);
  t.false(fs.existsSync(policy));
  fs.rmSync(path.dirname(policy), { recursive: true });
});

test('removed even when the install fails', (t) => {
  const policy = policyPath();
  t.throws(
    () =>
      debian.withoutServiceStarts(() => {
        throw new Error('apt-get failed');
      }, policy),
    { message: 'apt-get failed' },
  );
  t.false(fs.existsSync(policy));
  fs.rmSync(path.dirname(policy), { recursive: true });
});

test("the machine's own policy-rc.d is left alone", (t) => {
  const policy = policyPath();
  const theirs = '#!/bin/sh\n# the image builder\'s\nexit 101\n';
  fs.writeFileSync(policy, theirs, { mode: 0o755 });
  t.is(
    debian.withoutServiceStarts(() => 'installed', policy),
    'installed',
  );
  t.is(fs.readFileSync(policy, 'utf8'), theirs);
  fs.rmSync(path.dirname(policy), { recursive: true });
});

test('our own policy left by a killed install is used, then removed', (t) => {
  const policy = policyPath();
  fs.writeFileSync(policy, debian.OUR_POLICY, { mode: 0o755 });
  debian.withoutServiceStarts(() => t.true(fs.existsSync(policy)), policy);
  t.false(fs.existsSync(policy));
  fs.rmSync(path.dirname(policy), { recursive: true });
});
