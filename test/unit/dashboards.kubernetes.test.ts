/**
 * dashboards/kubernetes/daemonset.yaml states what capstan needs on a node. No cluster here, so
 * these are text checks that the manifest keeps its promises and that its flags agree with
 * each other and with the agent's command line.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import { parseAgentOptions } from '../../server/agent/options';
import { REPO_ROOT } from '../helpers/repo';

const manifest = fs.readFileSync(path.join(REPO_ROOT, 'dashboards', 'kubernetes', 'daemonset.yaml'), 'utf8');
/** The manifest without comments: what Kubernetes reads. */
const spec = manifest
  .split('\n')
  .map((line) => line.replace(/\s+#.*$/, '').replace(/^\s*#.*$/, ''))
  .filter((line) => line.trim() !== '')
  .join('\n');

function args(): string[] {
  const block = /\n(\s+)args:\n((?:\1\s+- .*\n)+)/.exec(spec + '\n');
  if (!block) throw new Error('no args: list');
  return block[2]!.split('\n').filter(Boolean).map((line) => line.trim().replace(/^- /, ''));
}

test('a DaemonSet with hostPID (host PIDs in cgroup.procs) and hostNetwork (the node\'s /proc/net/dev)', (t) => {
  t.regex(spec, /^kind: DaemonSet$/m);
  t.regex(spec, /^\s+hostPID: true$/m);
  t.regex(spec, /^\s+hostNetwork: true$/m);
});

test('the host cgroup fs is mounted read-write at --cgroup-root, with the read-only variant documented', (t) => {
  const mount = /- name: cgroup\n\s+mountPath: (\S+)\n\s+readOnly: false/.exec(spec);
  t.truthy(mount, 'cgroup volume mount with readOnly: false');
  t.regex(spec, /- name: cgroup\n\s+hostPath:\n\s+path: \/sys\/fs\/cgroup\n/);
  t.true(args().includes(`--cgroup-root=${mount![1]}`), '--cgroup-root points at the mount');
  // How to drop write access must be in the comments.
  t.regex(manifest, /Read-only variant: readOnly: true/);
  t.regex(manifest, /Read-only variant: remove this line/);
});

test('the state directory is on a hostPath and is the agent\'s --state-dir', (t) => {
  const mount = /- name: state\n\s+mountPath: (\S+)/.exec(spec);
  t.truthy(mount);
  t.regex(spec, /- name: state\n\s+hostPath:\n\s+path: \/var\/lib\/capstan\n\s+type: DirectoryOrCreate/);
  t.true(args().includes(`--state-dir=${mount![1]}`));
});

test('the listen port is the container port, and the arguments are valid agent options', (t) => {
  const port = /containerPort: (\d+)/.exec(spec)?.[1];
  t.is(port, '9180');
  const agentArgs = args();
  t.is(agentArgs[0], 'agent');
  t.true(agentArgs.includes(`--listen=$(NODE_IP):${port}`));
  // Kubernetes substitutes $(VAR) from env; stand-ins show the rest parses as capstan's flags.
  const substituted = agentArgs.slice(1).map((arg) => arg.replace('$(NODE_IP)', '10.0.0.1').replace('$(CAPSTAN_METRICS_TOKEN)', 'x'.repeat(32)));
  const options = parseAgentOptions(substituted, {});
  t.not(options, 'help');
  if (options !== 'help') {
    t.is(options.listenPort, 9180);
    t.is(options.metricsToken, 'x'.repeat(32));
  }
  t.regex(spec, /name: CAPSTAN_METRICS_TOKEN\n\s+valueFrom:\n\s+secretKeyRef:/);
});

test('capstan\'s own resource requests and limits are set', (t) => {
  const resources = /resources:\n\s+requests:\n\s+cpu: (\S+)\n\s+memory: (\S+)\n\s+limits:\n\s+cpu: (\S+)\n\s+memory: (\S+)/.exec(spec);
  t.truthy(resources, 'requests and limits for cpu and memory');
});
