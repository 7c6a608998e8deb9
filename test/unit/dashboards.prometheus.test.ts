/**
 * dashboards/prometheus/ checked by the real promtool (Debian package `prometheus`): the scrape
 * config, the rules, and the rules' unit tests, which must fire every alert on series that should
 * and leave it silent on series that should not.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test from 'ava';
import { REPO_ROOT, requireCapability } from '../helpers/repo';
import { dashboardQueries, ruleExpressions, substituteVariables, type GrafanaDashboard } from '../integration/prometheus.promql';

const DIR = path.join(REPO_ROOT, 'dashboards', 'prometheus');
const hasPromtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;

function promtool(args: string[], cwd = DIR): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const ALERTS = [
  'ContainerOOMKilled',
  'ContainerCpuThrottlingHigh',
  'ContainerMemoryNearLimit',
  'ContainerRestartingOften',
  'CapstanDown',
  'CapstanCollectorSlow',
];

test('promtool check rules', (t) => {
  if (!requireCapability(hasPromtool, 'promtool (Debian package prometheus)')) return t.log('skipped: no promtool');
  const { status, output } = promtool(['check', 'rules', 'rules.yml']);
  t.is(status, 0, output);
});

test('promtool test rules: every alert fires where it should and not where it should not', (t) => {
  if (!requireCapability(hasPromtool, 'promtool (Debian package prometheus)')) return t.log('skipped: no promtool');
  const { status, output } = promtool(['test', 'rules', 'tests.yml']);
  t.is(status, 0, output);
});

test('promtool check config, with the bearer token file in place', (t) => {
  if (!requireCapability(hasPromtool, 'promtool (Debian package prometheus)')) return t.log('skipped: no promtool');
  // The example reads the token from capstan-metrics.token next to it; a token is a secret, so the
  // repository ships none and the check runs on a copy with one.
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-promcfg-'));
  t.teardown(() => fs.rmSync(copy, { recursive: true, force: true }));
  fs.cpSync(DIR, copy, { recursive: true });
  fs.writeFileSync(path.join(copy, 'capstan-metrics.token'), 'an-example-token-of-32-characters\n', { mode: 0o600 });
  const { status, output } = promtool(['check', 'config', 'prometheus.yml'], copy);
  t.is(status, 0, output);
  t.regex(output, /SUCCESS: 1 rule files found/);
});

test('the rules hold the six alerts, each with a summary, a description and a for:', (t) => {
  const text = fs.readFileSync(path.join(DIR, 'rules.yml'), 'utf8');
  const alerts = ruleExpressions(text).filter((r) => r.kind === 'alert').map((r) => r.name);
  t.deepEqual([...alerts].sort(), [...ALERTS].sort());
  // Each alert block, from its "- alert:" line to the next rule.
  const blocks = text.split(/\n(?=\s*- (?:alert|record):)/).filter((block) => /^\s*- alert:/.test(block));
  for (const block of blocks) {
    const name = /- alert:\s*(\S+)/.exec(block)![1];
    t.regex(block, /\n\s+for: \d+[smh]\n/, `${name} has a for:`);
    t.regex(block, /\n\s+summary: \S/, `${name} has a summary`);
    t.regex(block, /\n\s+description: \S/, `${name} has a description`);
    t.regex(block, /\n\s+severity: (warning|critical)\n/, `${name} has a severity`);
  }
});

test('tests.yml has, for every alert, a case where it fires and one where it does not', (t) => {
  const text = fs.readFileSync(path.join(DIR, 'tests.yml'), 'utf8');
  // Every "alertname: X" line is followed by its exp_alerts: "[]" (silent) or a list (firing).
  const cases = [...text.matchAll(/alertname: (\w+)\n\s+exp_alerts:( \[\])?/g)].map((m) => ({ alert: m[1]!, fires: m[2] === undefined }));
  for (const alert of ALERTS) {
    t.true(cases.some((c) => c.alert === alert && c.fires), `${alert} fires in some case`);
    t.true(cases.some((c) => c.alert === alert && !c.fires), `${alert} stays silent in some case`);
  }
});

test('the file_sd example is a list of target groups', (t) => {
  const files = fs.readdirSync(path.join(DIR, 'targets')).filter((name) => name.endsWith('.json'));
  t.true(files.length > 0);
  for (const file of files) {
    const groups = JSON.parse(fs.readFileSync(path.join(DIR, 'targets', file), 'utf8')) as unknown;
    t.true(Array.isArray(groups), file);
    for (const group of groups as Array<{ targets: unknown; labels?: unknown }>) {
      t.true(Array.isArray(group.targets) && group.targets.every((target) => typeof target === 'string' && /^[^/\s]+:\d+$/.test(target)), `${file}: host:port targets`);
      if (group.labels !== undefined) t.true(Object.values(group.labels as object).every((v) => typeof v === 'string'), `${file}: string labels`);
    }
  }
});

test('the OOM kills panel counts, in its range, a kill whose series was born already counting it', (t) => {
  if (!requireCapability(hasPromtool, 'promtool (Debian package prometheus)')) return t.log('skipped: no promtool');
  const dashboard = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'dashboards', 'grafana', 'capstan.json'), 'utf8')) as GrafanaDashboard;
  const inRange = dashboardQueries(dashboard).find((q) => q.panel === 'OOM kills' && q.refId === 'A');
  if (!inRange) return t.fail('no query A in the "OOM kills" panel');
  const expr = substituteVariables(inRange.expr, { instance: '.+', container: '.+', __range: '10m', __rate_interval: '1m', __interval: '1m' });
  const series = (name: string, values: string): string => `      - series: 'container_oom_events_total{id="/capstan/${name}",name="${name}",instance="node-a:9180",job="capstan"}'\n        values: '${values}'`;
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-promql-'));
  t.teardown(() => fs.rmSync(directory, { recursive: true, force: true }));
  fs.writeFileSync(
    path.join(directory, 'panel.yml'),
    [
      'evaluation_interval: 1m',
      'tests:',
      '  - interval: 1m',
      '    input_series:',
      // Killed within its first second, at minute 3: its first scrape already reads 1.
      series('web', '_ _ _ 1x20'),
      // Scraped from the start, killed once at minute 7.
      series('db', '0 0 0 0 0 0 0 1x20'),
      // Killed once long before the range (the series was there at its start): not in range.
      series('old', '1x25'),
      // Killed at minute 4, removed at minute 6: its series ends, the kill is still in range.
      series('gone', '0 0 0 0 1 1 1'),
      series('cache', '0x25'),
      '    promql_expr_test:',
      `      - expr: ${JSON.stringify(expr)}`,
      '        eval_time: 12m',
      '        exp_samples:',
      `          - labels: '{instance="node-a:9180",name="db"}'`,
      '            value: 1',
      `          - labels: '{instance="node-a:9180",name="gone"}'`,
      '            value: 1',
      `          - labels: '{instance="node-a:9180",name="web"}'`,
      '            value: 1',
      '',
    ].join('\n'),
  );
  const { status, output } = promtool(['test', 'rules', 'panel.yml'], directory);
  t.is(status, 0, `${expr}\n${output}`);
});
