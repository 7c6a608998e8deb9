/**
 * dashboards/grafana/capstan.json without a Grafana: the shape Grafana imports (data source
 * variable, host and container variables, every panel on `${datasource}`, a grid without
 * overlaps), the panels the dashboard promises, and every metric it reads being one the exporter
 * registers under cAdvisor's name. The end-to-end test (test/integration/prometheus.test.ts)
 * then runs every query against a real Prometheus.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import { describeMetrics } from '../../server/metrics';
import {
  dashboardPanels,
  dashboardQueries,
  metricNames,
  parseLabelValues,
  ruleExpressions,
  variableQuery,
  variablesUsed,
  type GrafanaDashboard,
} from '../integration/prometheus.promql';
import { REPO_ROOT } from '../helpers/repo';

const dashboard = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'dashboards', 'grafana', 'capstan.json'), 'utf8')) as GrafanaDashboard;
const rules = ruleExpressions(fs.readFileSync(path.join(REPO_ROOT, 'dashboards', 'prometheus', 'rules.yml'), 'utf8'));

/** Series Prometheus makes itself for every target; any dashboard may read them. */
const PROMETHEUS_SERIES = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'ALERTS', 'ALERTS_FOR_STATE']);
/** Variables Grafana defines for every dashboard. */
const GRAFANA_GLOBALS = new Set(['__rate_interval', '__interval', '__interval_ms', '__range', '__range_s', '__range_ms', '__from', '__to', '__dashboard']);

/** Every series name the exporter can emit (histograms as their _bucket, _sum and _count series). */
function exportedSeriesNames(): Set<string> {
  const names = new Set<string>();
  for (const family of describeMetrics()) {
    if (family.type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(family.name + suffix);
    else names.add(family.name);
  }
  return names;
}

const variables = new Map(dashboard.templating.list.map((v) => [v.name, v]));

test('a Prometheus data source variable, and host and container variables that query through it', (t) => {
  const datasource = variables.get('datasource');
  t.is(datasource?.type, 'datasource');
  t.is(datasource?.query, 'prometheus');

  for (const [name, label] of [['instance', 'instance'], ['container', 'name']] as const) {
    const variable = variables.get(name);
    t.truthy(variable, `variable ${name}`);
    t.is(variable!.type, 'query');
    t.is(variable!.datasource?.uid, '${datasource}');
    t.true(variable!.multi && variable!.includeAll, `${name} is multi-value with "All"`);
    // "All" must be a regex that matches any value, not the list of values Grafana saw last.
    t.is(variable!.allValue, '.+');
    t.is(parseLabelValues(variableQuery(variable!)!).label, label);
  }
  // The container list follows the selected hosts.
  t.true(variableQuery(variables.get('container')!)!.includes('$instance'));
});

test('every panel and query uses the ${datasource} variable', (t) => {
  for (const panel of dashboardPanels(dashboard)) {
    if (panel.type === 'row') continue;
    t.deepEqual(panel.datasource, { type: 'prometheus', uid: '${datasource}' }, `panel "${panel.title}"`);
    t.true((panel.targets ?? []).length > 0, `panel "${panel.title}" has queries`);
    for (const target of panel.targets ?? []) {
      t.deepEqual(target.datasource, { type: 'prometheus', uid: '${datasource}' }, `panel "${panel.title}" query ${target.refId}`);
    }
  }
});

test('panel ids are unique and the grid has no overlaps', (t) => {
  const panels = dashboardPanels(dashboard);
  const ids = panels.map((p) => p.id);
  t.is(new Set(ids).size, ids.length);
  const cells = new Map<string, string>();
  for (const panel of panels) {
    const g = panel.gridPos!;
    t.true(g.x >= 0 && g.w > 0 && g.x + g.w <= 24, `panel "${panel.title}" fits in 24 columns`);
    for (let x = g.x; x < g.x + g.w; x++) {
      for (let y = g.y; y < g.y + g.h; y++) {
        const key = `${x},${y}`;
        t.false(cells.has(key), `panels "${cells.get(key)}" and "${panel.title}" overlap at ${key}`);
        cells.set(key, panel.title ?? '');
      }
    }
  }
});

test('the panels the dashboard promises are there', (t) => {
  const titles = dashboardPanels(dashboard).map((p) => `${p.type}: ${p.title}`);
  const expected: Array<[string, RegExp]> = [
    ['host CPU', /^timeseries: Host CPU/],
    ['host memory', /^timeseries: Host memory/],
    ['CPU usage against quota', /^timeseries: CPU usage vs quota/],
    ['CPU throttling', /^timeseries: CPU throttling/],
    ['memory working set against limit', /^timeseries: Memory working set vs limit/],
    ['network rates', /^timeseries: Network/],
    ['block I/O rates', /^timeseries: Block I\/O/],
    ['an OOM-kills table', /^table: OOM kills/],
    ['top-N by CPU', /^bargauge: Top \d+ containers by CPU/],
    ['top-N by memory', /^bargauge: Top \d+ containers by memory/],
    ["capstan's tick duration", /^timeseries: Collector tick duration/],
    ["capstan's scrape duration", /^timeseries: Scrape duration/],
  ];
  for (const [what, pattern] of expected) t.true(titles.some((title) => pattern.test(title)), `a panel for ${what}`);
});

test('CPU quota is quota / period, and the memory limit leaves out unlimited containers', (t) => {
  const queries = dashboardQueries(dashboard);
  const quota = queries.find((q) => q.panel === 'CPU usage vs quota' && q.expr.includes('container_spec_cpu_quota'));
  t.truthy(quota);
  t.regex(quota!.expr, /container_spec_cpu_quota\{[^}]*\}\s*\/\s*container_spec_cpu_period/);
  const limit = queries.find((q) => q.panel === 'Memory working set vs limit' && q.expr.includes('container_spec_memory_limit_bytes'));
  t.regex(limit!.expr, /container_spec_memory_limit_bytes\{[^}]*\}\s*>\s*0/);
});

test('every metric the dashboard reads is one the exporter registers (cAdvisor names) or one Prometheus makes', (t) => {
  const exported = exportedSeriesNames();
  const expressions = [
    ...dashboardQueries(dashboard).map((q) => ({ where: `panel "${q.panel}" ${q.refId}`, expr: q.expr })),
    ...dashboard.templating.list
      .filter((v) => v.type === 'query')
      .map((v) => ({ where: `variable ${v.name}`, expr: parseLabelValues(variableQuery(v)!).selector ?? '' })),
  ];
  t.true(expressions.length > 20);
  for (const { where, expr } of expressions) {
    for (const name of metricNames(expr)) {
      t.true(exported.has(name) || PROMETHEUS_SERIES.has(name), `${where} reads ${name}, which capstan does not export`);
      // Container and machine series keep cAdvisor's names; capstan's own have the capstan_ prefix.
      t.regex(name, /^(container_|machine_|capstan_|up$|scrape_)/, `${where}: ${name}`);
    }
  }
});

test('every variable a query uses is defined', (t) => {
  const defined = new Set([...variables.keys(), ...GRAFANA_GLOBALS]);
  const texts = [...dashboardQueries(dashboard).map((q) => q.expr), ...dashboard.templating.list.map((v) => variableQuery(v) ?? '')];
  for (const text of texts) {
    for (const name of variablesUsed(text)) t.true(defined.has(name), `$${name} in ${JSON.stringify(text)}`);
  }
});

test('every metric the rules read is exported, made by Prometheus, or recorded by another rule', (t) => {
  const exported = exportedSeriesNames();
  const recorded = new Set(rules.filter((r) => r.kind === 'record').map((r) => r.name));
  t.true(rules.length >= 12);
  for (const rule of rules) {
    for (const name of metricNames(rule.expr)) {
      t.true(exported.has(name) || recorded.has(name) || PROMETHEUS_SERIES.has(name), `${rule.kind} ${rule.name} reads ${name}, which nothing provides`);
    }
  }
});
