/**
 * The PromQL and dashboard reading the dashboard tests rely on (test/integration/prometheus.promql.ts):
 * if it missed a metric name, a misspelt metric could slip past the typo checks.
 */
import test from 'ava';
import {
  dashboardQueries,
  escapeRegex,
  metricNames,
  metricReferences,
  parseLabelValues,
  ruleExpressions,
  splitComparison,
  substituteVariables,
  variablesUsed,
  withMetricRenamed,
  type GrafanaDashboard,
} from '../integration/prometheus.promql';

test('metric names: selectors, functions, aggregations with by/without, matching modifiers', (t) => {
  t.deepEqual(metricNames('rate(container_cpu_usage_seconds_total{id="/", instance=~"a|b"}[5m])'), ['container_cpu_usage_seconds_total']);
  t.deepEqual(
    metricNames('sum by (instance, name) (rate(a_total[1m])) / on (instance) group_left (name) max without (cpu) (b)'),
    ['a_total', 'b'],
  );
  t.deepEqual(metricNames('sum(rate(a_total[1m])) by (instance)'), ['a_total']);
  t.deepEqual(
    metricNames('histogram_quantile(0.99, sum by (instance, job, le) (rate(capstan_collector_tick_duration_seconds_bucket[10m])))'),
    ['capstan_collector_tick_duration_seconds_bucket'],
  );
  t.deepEqual(metricNames('topk(10, sum by (instance, name) (container_memory_working_set_bytes{id!="/"}))'), ['container_memory_working_set_bytes']);
  t.deepEqual(metricNames('up{job="capstan"} == 0'), ['up']);
  t.deepEqual(metricNames('a > bool 0.5 and on (x) b offset 5m unless c'), ['a', 'b', 'c']);
  t.deepEqual(metricNames('instance_name:container_cpu_usage_seconds:rate1m'), ['instance_name:container_cpu_usage_seconds:rate1m']);
  t.deepEqual(metricNames('1e3 * a + 0x1f - Inf'), ['a']);
});

test('metric names ignore label names and values, strings and comments', (t) => {
  t.deepEqual(metricNames('a{name=~"sum(b)", id="{c}"} # d'), ['a']);
  t.deepEqual(metricNames('label_replace(a, "dst", "$1", "src", "(.*)")'), ['a']);
});

test('renaming one reference leaves the others in place', (t) => {
  const expr = 'a / (a > 0)';
  const references = metricReferences(expr);
  t.is(references.length, 2);
  t.is(withMetricRenamed(expr, references[1]!, 'a_typo'), 'a / (a_typo > 0)');
});

test('splitComparison takes the single comparison outside parentheses', (t) => {
  t.deepEqual(splitComparison('a / (b > 0) > 0.9'), { signal: 'a / (b > 0)', operator: '>', threshold: '0.9' });
  t.deepEqual(splitComparison('up{job="capstan"} == 0'), { signal: 'up{job="capstan"}', operator: '==', threshold: '0' });
  t.deepEqual(splitComparison('changes(x[15m]) >= 3'), { signal: 'changes(x[15m])', operator: '>=', threshold: '3' });
  t.throws(() => splitComparison('a > 1 and b > 2'), { message: /found 2/ });
  t.throws(() => splitComparison('rate(a[5m])'), { message: /found 0/ });
  // `=~` and `!=` inside a selector are not comparisons.
  t.deepEqual(splitComparison('a{b=~"x", c!="y"} < 1').signal, 'a{b=~"x", c!="y"}');
});

test('variables: every form is substituted, and an unknown one throws', (t) => {
  const values = { instance: 'n\\.1:9180', container: '.+', __rate_interval: '30s' };
  t.is(
    substituteVariables('rate(x{instance=~"$instance", name=~"${container}"}[$__rate_interval]) [[container]]', values),
    'rate(x{instance=~"n\\.1:9180", name=~".+"}[30s]) .+',
  );
  t.throws(() => substituteVariables('x{instance=~"$instnace"}', values), { message: /\$instnace/ });
  t.deepEqual(variablesUsed('x{a="$a", b="${b:regex}"}[$__range]').sort(), ['__range', 'a', 'b']);
  // Regex `127\.0\.0\.1:9180`, inside a PromQL string literal.
  t.is(escapeRegex('127.0.0.1:9180'), String.raw`127\\.0\\.0\\.1:9180`);
});

test('label_values queries', (t) => {
  t.deepEqual(parseLabelValues('label_values(machine_cpu_cores, instance)'), { selector: 'machine_cpu_cores', label: 'instance' });
  t.deepEqual(parseLabelValues('label_values(x{a=~"$b", c="d,e"}, name)'), { selector: 'x{a=~"$b", c="d,e"}', label: 'name' });
  t.deepEqual(parseLabelValues('label_values(job)'), { label: 'job' });
  t.throws(() => parseLabelValues('query_result(up)'));
});

test('dashboard queries include the panels of collapsed rows', (t) => {
  const dashboard: GrafanaDashboard = {
    title: 't',
    schemaVersion: 39,
    templating: { list: [] },
    panels: [
      { type: 'timeseries', title: 'A', targets: [{ refId: 'A', expr: 'a' }] },
      { type: 'row', title: 'R', panels: [{ type: 'table', title: 'B', targets: [{ refId: 'B', expr: 'b', instant: true }] }] },
    ],
  };
  t.deepEqual(dashboardQueries(dashboard), [
    { panel: 'A', refId: 'A', expr: 'a', instant: false },
    { panel: 'B', refId: 'B', expr: 'b', instant: true },
  ]);
});

test('rule expressions: inline and block scalars', (t) => {
  const yaml = [
    'groups:',
    '  - name: g',
    '    rules:',
    '      - record: r:x:rate1m',
    '        expr: sum(rate(x[1m]))',
    '      - alert: A',
    '        expr: |',
    '          a',
    '            / b',
    '          > 1',
    '        for: 5m',
    "      - alert: 'B'",
    "        expr: 'up == 0'",
  ].join('\n');
  t.deepEqual(ruleExpressions(yaml), [
    { kind: 'record', name: 'r:x:rate1m', expr: 'sum(rate(x[1m]))' },
    { kind: 'alert', name: 'A', expr: 'a\n/ b\n> 1' },
    { kind: 'alert', name: "'B'", expr: 'up == 0' },
  ]);
});
