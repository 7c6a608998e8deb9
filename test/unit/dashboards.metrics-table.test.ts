/**
 * The README's metrics table is generated from the exporter's registry (scripts/metrics-table.js);
 * this fails when someone adds, renames or re-documents a metric without regenerating it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import { describeMetrics, type MetricDescription } from '../../server/metrics';
import { REPO_ROOT } from '../helpers/repo';

interface MetricsTableScript {
  renderMetricsTable(descriptions: MetricDescription[]): string;
  extractBlock(readme: string): string | undefined;
  replaceBlock(readme: string, table: string): string;
}

// A plain CommonJS script, so it runs without a build step of its own; loaded the same way here.
const script = require(path.join(REPO_ROOT, 'scripts', 'metrics-table.js')) as MetricsTableScript;

test('the README metrics table matches the registry', (t) => {
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const block = script.extractBlock(readme);
  t.not(block, undefined, 'README.md has the <!-- metrics-table:start --> ... <!-- metrics-table:end --> markers');
  t.is(block, script.renderMetricsTable(describeMetrics()), 'README.md metrics table is stale: run "node scripts/metrics-table.js --write"');
});

test('one row per family, with type, unit, labels and v1/v2 availability', (t) => {
  const descriptions = describeMetrics();
  const rows = script.renderMetricsTable(descriptions).trimEnd().split('\n').slice(2);
  t.is(rows.length, descriptions.length);
  const usage = rows.find((row) => row.startsWith('| `container_cpu_usage_seconds_total` |'));
  t.is(usage?.split(' | ').slice(1, 6).join(' | '), 'counter | seconds | `id`, `name`, `image`, `cpu` | yes | yes');
  const v2Only = descriptions.find((d) => d.v2 && !d.v1);
  if (v2Only) t.true(rows.some((row) => row.startsWith(`| \`${v2Only.name}\` |`) && row.includes('| no | yes |')));
});

test('pipes and newlines in help text cannot break the table', (t) => {
  const table = script.renderMetricsTable([
    { name: 'x_total', type: 'counter', unit: 'a|b', help: 'one | two\nthree', labels: [], v1: true, v2: false },
  ]);
  t.is(table.split('\n')[2], '| `x_total` | counter | a\\|b |  | yes | no | one \\| two three |');
});

test('replaceBlock touches only the block between the markers', (t) => {
  const readme = 'before\n<!-- metrics-table:start -->\nold\n<!-- metrics-table:end -->\nafter\n';
  t.is(script.replaceBlock(readme, 'new\n'), 'before\n<!-- metrics-table:start -->\nnew\n<!-- metrics-table:end -->\nafter\n');
  t.throws(() => script.replaceBlock('no markers', 'x'), { message: /metrics-table:start/ });
});
