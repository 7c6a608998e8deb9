import test from 'ava';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import { Registry } from 'prom-client';
import type { CollectorSnapshot, ContainerSnapshot } from '../../server/model';
import {
  acceptsGzip,
  CONTAINER_METRICS,
  ContainerSeriesRenderer,
  ExpositionWriter,
  formatValue,
  MetricsExporter,
  negotiateFormat,
  type CollectContext,
  type MetricsExporterOptions,
} from '../../server/metrics';
import { FIXTURE_MACHINE, loadSnapshot } from '../helpers/metrics-fixtures';

function exporterFor(getSnapshot: () => CollectorSnapshot | undefined, extra: Partial<MetricsExporterOptions> = {}): MetricsExporter {
  return new MetricsExporter({
    getSnapshot,
    machine: FIXTURE_MACHINE,
    version: '1.2.3',
    deviceName: (major, minor) => `${major}:${minor}`,
    registry: new Registry(),
    ...extra,
  });
}

function contextOf(snapshot: CollectorSnapshot): CollectContext {
  return {
    cgroupVersion: snapshot.layout.controllersOn,
    perCpu: false,
    onlineCpus: snapshot.host.onlineCpus,
    snapshotTimestampMs: snapshot.timestampMs,
    deviceName: (major, minor) => `${major}:${minor}`,
  };
}

function render(renderer: ContainerSeriesRenderer, containers: readonly ContainerSnapshot[], ctx: CollectContext, format: 'text' | 'openmetrics' = 'text'): string {
  const writer = new ExpositionWriter(16);
  renderer.write(containers, ctx, format, writer);
  return writer.toString();
}

test('number() writes what formatValue() writes, for integers, floats, huge, negative and special values', (t) => {
  const values = [0, -0, 1, 7, 10, 99, 100, 123456789, 2 ** 53 - 1, 2 ** 53, 2 ** 62, 1e21, 1e22, -1, -42, 0.5, 0.012, 1 / 3, 1e-7, 12345.678, NaN, Infinity, -Infinity];
  for (const value of values) {
    const writer = new ExpositionWriter(1); // grows on every append
    writer.number(value);
    t.is(writer.toString(), formatValue(value), String(value));
  }
  t.is(formatValue(NaN), 'NaN');
  t.is(formatValue(Infinity), '+Inf');
  t.is(formatValue(-Infinity), '-Inf');
  t.is(formatValue(0.012), '0.012', 'floats keep their shortest round-trip form');
});

test('bytes() copies short and long pieces alike and the buffer grows as needed', (t) => {
  const writer = new ExpositionWriter(4);
  const long = Buffer.alloc(1000, 0x61);
  writer.bytes(Buffer.from('short,'));
  writer.bytes(long);
  writer.text('é\n');
  t.is(writer.toString(), `short,${'a'.repeat(1000)}é\n`);
  const copy = writer.toBuffer();
  writer.reset();
  writer.ascii('zzzzzz');
  t.is(copy.subarray(0, 6).toString(), 'short,', 'toBuffer() is a copy that the next render does not overwrite');
});

test('label values escape backslash, quote and line feed once per container; HELP escapes differ by format', (t) => {
  const snapshot = loadSnapshot('snapshot-v1.json');
  const web = snapshot.containers[1]!;
  web.info = { ...web.info, name: 'a\\b"c\nd', image: 'img"x' };
  const renderer = new ContainerSeriesRenderer();
  const text = render(renderer, [web], contextOf(snapshot));
  t.true(text.includes('container_memory_usage_bytes{id="/capstan/web",name="a\\\\b\\"c\\nd",image="img\\"x"} '));
  for (const line of text.split('\n')) if (line !== '') t.regex(line, /^(# (HELP|TYPE) \S+ .*|[a-z_]+\{.*\} \S+)$/);

  const quoted = [{ ...CONTAINER_METRICS.find((d) => d.name === 'container_threads')!, help: 'say "hi" \\ now\nthen' }];
  const quotedRenderer = new ContainerSeriesRenderer(quoted);
  t.true(render(quotedRenderer, [web], contextOf(snapshot), 'text').startsWith('# HELP container_threads say "hi" \\\\ now\\nthen\n'));
  t.true(render(quotedRenderer, [web], contextOf(snapshot), 'openmetrics').startsWith('# HELP container_threads say \\"hi\\" \\\\ now\\nthen\n'));
});

test('a container label string is built once and rebuilt on a rename or an update of its labels', (t) => {
  const snapshot = loadSnapshot('snapshot-v1.json');
  const ctx = { ...contextOf(snapshot), labelPolicy: { storeAll: true, allowList: [] } };
  const renderer = new ContainerSeriesRenderer();
  const containers = snapshot.containers;
  render(renderer, containers, ctx);
  t.is(renderer.labels.built, containers.length);
  render(renderer, containers, ctx);
  t.is(renderer.labels.built, containers.length, 'same descriptions: nothing rebuilt');

  // A rename: the source describes the container anew (a new info object).
  const web = containers[1]!;
  const renamed = [containers[0]!, { ...web, info: { ...web.info, name: 'web-renamed' } }, containers[2]!];
  const afterRename = render(renderer, renamed, ctx);
  t.is(renderer.labels.built, containers.length + 1);
  t.true(afterRename.includes('name="web-renamed"'));
  t.false(afterRename.includes('name="we\\"b\\\\app"'));

  // An update of its labels in place (the same info object) is seen too.
  renamed[1]!.info.labels = { ...renamed[1]!.info.labels, tier: 'front' };
  const afterUpdate = render(renderer, renamed, ctx);
  t.is(renderer.labels.built, containers.length + 2);
  t.true(afterUpdate.includes('container_label_tier="front"'));

  // A container that is gone loses its entry.
  render(renderer, [containers[0]!], ctx);
  t.is(renderer.labels.size, 1);
});

test('the cached renderer writes the same bytes as a fresh one, tick after tick', (t) => {
  const snapshot = loadSnapshot('snapshot-v2.json');
  const ctx = contextOf(snapshot);
  const kept = new ContainerSeriesRenderer();
  for (let tick = 0; tick < 3; tick++) {
    for (const c of snapshot.containers) if (c.sample.memory.usageBytes !== undefined) c.sample.memory.usageBytes += 4096;
    t.is(render(kept, snapshot.containers, ctx), render(new ContainerSeriesRenderer(), snapshot.containers, ctx));
  }
});

test('a render in slices writes the same bytes as one in a go, giving the event loop turns in between', async (t) => {
  const snapshot = loadSnapshot('snapshot-v1.json');
  const ctx = contextOf(snapshot);
  const whole = render(new ContainerSeriesRenderer(), snapshot.containers, ctx, 'openmetrics');
  const writer = new ExpositionWriter(16);
  let turns = 0;
  const counting = setInterval(() => turns++, 0);
  try {
    const busyMs = await new ContainerSeriesRenderer().writeInSlices(snapshot.containers, ctx, 'openmetrics', writer, 0);
    t.true(busyMs >= 0);
  } finally {
    clearInterval(counting);
  }
  t.is(writer.toString(), whole);
  t.true(turns > 0, 'a timer ran during the render');
});

/**
 * Checks an OpenMetrics 1.0.0 text body against the spec's rules that differ from the text
 * format: `# EOF` as the last line, no blank line, TYPE before samples, one TYPE per family,
 * families contiguous, counter samples named `<family>_total` (or `_created`), histogram samples
 * `_bucket` (with le) / `_sum` / `_count`, gauge samples named as the family, label values
 * escaped. Returns the problems found.
 */
function openMetricsProblems(body: string): string[] {
  const problems: string[] = [];
  if (!body.endsWith('# EOF\n')) problems.push('body does not end with "# EOF\\n"');
  const lines = body.split('\n');
  lines.pop(); // after the final line feed
  if (lines.pop() !== '# EOF') problems.push('last line is not # EOF');
  const types = new Map<string, string>();
  const closed = new Set<string>();
  let current: string | undefined;
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const sampleLine = new RegExp(`^(${NAME})(\\{(${NAME}="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"(?:,${NAME}="(?:[^"\\\\\\n]|\\\\[\\\\"n])*")*)?\\})? (\\S+)$`);
  for (const line of lines) {
    if (line === '') {
      problems.push('blank line');
      continue;
    }
    const meta = /^# (HELP|TYPE|UNIT) (\S+)(?: (.*))?$/.exec(line);
    if (meta) {
      const [, kind, name] = meta;
      if (name !== current) {
        if (current !== undefined) closed.add(current);
        if (closed.has(name!)) problems.push(`family ${name} is not contiguous`);
        current = name;
      }
      if (kind === 'TYPE') {
        if (types.has(name!)) problems.push(`second TYPE for ${name}`);
        if (!['counter', 'gauge', 'histogram', 'gaugehistogram', 'stateset', 'info', 'summary', 'unknown'].includes(meta[3]!)) problems.push(`bad type ${meta[3]}`);
        types.set(name!, meta[3]!);
      }
      if (kind === 'HELP' && /(^|[^\\])"/.test(meta[3] ?? '')) problems.push(`unescaped quote in HELP of ${name}`);
      continue;
    }
    if (line.startsWith('#')) {
      problems.push(`unknown comment line: ${line}`);
      continue;
    }
    const sample = sampleLine.exec(line);
    if (!sample) {
      problems.push(`unparsable sample: ${line}`);
      continue;
    }
    const [, name, , labels, value] = sample;
    if (!/^([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?Inf|NaN)$/.test(value!)) problems.push(`bad value ${value} in ${line}`);
    const type = current === undefined ? undefined : types.get(current);
    if (type === undefined) {
      problems.push(`sample ${name} before any TYPE`);
      continue;
    }
    const allowed =
      type === 'counter' ? [`${current}_total`, `${current}_created`] : type === 'histogram' ? [`${current}_bucket`, `${current}_sum`, `${current}_count`, `${current}_created`] : [current];
    if (!allowed.includes(name!)) problems.push(`sample ${name} does not belong to ${type} family ${current}`);
    if (type === 'histogram' && name!.endsWith('_bucket') && !/(^|,)le="/.test(labels ?? '')) problems.push(`bucket without le: ${line}`);
  }
  for (const [name, type] of types) if (type === 'counter' && name.endsWith('_total')) problems.push(`counter family ${name} keeps its _total`);
  return problems;
}

test('OpenMetrics: counters drop _total in HELP/TYPE and keep it on samples, no blank line, # EOF last', async (t) => {
  const snapshot = loadSnapshot('snapshot-v1.json');
  const exporter = exporterFor(() => snapshot, { intervalSeconds: 1, sourceStates: () => [{ source: 'docker', up: true }] });
  exporter.recordTick(snapshot);
  exporter.recordWarning();
  const body = await exporter.render('openmetrics');
  t.deepEqual(openMetricsProblems(body), []);
  const all = body.split('\n');
  t.true(all.includes('# TYPE container_cpu_usage_seconds counter'));
  t.true(all.some((l) => l.startsWith('container_cpu_usage_seconds_total{')));
  t.true(all.includes('# TYPE capstan_collector_warnings counter'));
  t.true(all.includes('capstan_collector_warnings_total 1'));
  t.true(all.includes('capstan_collector_tick_duration_seconds_bucket{le="+Inf"} 1'));
  t.is(body.indexOf('# EOF'), body.length - '# EOF\n'.length, 'exactly one # EOF, at the end');

  // The checker itself catches what it is for.
  t.true(openMetricsProblems(await exporter.render('text')).length > 0, 'the text format is not valid OpenMetrics');

  // Same samples in both formats: only headers differ (the render histogram counts the second render).
  const samples = (text: string) => text.split('\n').filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('capstan_scrape_duration_seconds'));
  t.deepEqual(samples(body), samples(await exporter.render('text')));
});

/** The body as one gzip member: a reader that stops after the first member (curl) must get it all. */
function singleMember(body: Buffer): Buffer {
  if (body[0] !== 0x1f || body[1] !== 0x8b || body[2] !== 8) throw new Error('not a gzip member');
  return inflateRawSync(body.subarray(10, body.length - 8));
}

test('gzip: one gzip member that decompresses to the plain body; the container part is compressed once per snapshot', async (t) => {
  const snapshot = loadSnapshot('snapshot-v1.json');
  const exporter = exporterFor(() => snapshot);
  const plain = await exporter.scrape({ format: 'openmetrics' });
  t.is(plain.contentType, 'application/openmetrics-text; version=1.0.0; charset=utf-8');
  t.is(plain.contentEncoding, undefined);
  const [first, second] = await Promise.all([exporter.scrape({ format: 'openmetrics', gzip: true }), exporter.scrape({ format: 'openmetrics', gzip: true })]);
  for (const zipped of [first, second]) {
    t.is(zipped.contentEncoding, 'gzip');
    t.is(zipped.length, zipped.chunks.reduce((sum, c) => sum + c.length, 0));
    const body = Buffer.concat(zipped.chunks);
    t.is(gunzipSync(body).toString(), Buffer.concat(plain.chunks).toString(), 'CRC-32 and size check out');
    t.is(singleMember(body).toString(), Buffer.concat(plain.chunks).toString());
  }
  t.is(first.chunks[1], second.chunks[1], 'concurrent scrapers share one compression of the container part');
  t.is(exporter.containerRenderCount, 1);
  const text = await exporter.scrape({ format: 'text' });
  t.is(text.contentType, 'text/plain; version=0.0.4; charset=utf-8');
  t.is(exporter.containerRenderCount, 2, 'each format is rendered once per snapshot');
});

test('gzip of a large body: pieces deflated in parallel make one member with the exact text', async (t) => {
  const base = loadSnapshot('snapshot-v1.json');
  const template = base.containers[1]!;
  const containers: ContainerSnapshot[] = [];
  for (let i = 0; i < 400; i++) containers.push({ ...template, info: { ...template.info, id: `c${i}`, cgroupPath: `/bench/c${i}`, name: `c${i}` } });
  const snapshot = { ...base, containers };
  const exporter = exporterFor(() => snapshot);
  const plain = Buffer.concat((await exporter.scrape()).chunks);
  t.true(plain.length > 2 * 512 * 1024, 'large enough for several pieces');
  const zipped = await exporter.scrape({ gzip: true });
  t.true(zipped.length < plain.length / 5);
  t.true(zipped.chunks.length > 5, 'header, several pieces, the final piece, trailer');
  t.true(gunzipSync(Buffer.concat(zipped.chunks)).equals(plain));
  t.true(singleMember(Buffer.concat(zipped.chunks)).equals(plain));
});

test('negotiateFormat: OpenMetrics when asked for first or with the higher quality, else the text format', (t) => {
  // Prometheus 2.42's scrape Accept header.
  const prometheus = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
  t.is(negotiateFormat(prometheus), 'openmetrics');
  t.is(negotiateFormat('application/openmetrics-text; version=1.0.0; charset=utf-8'), 'openmetrics');
  t.is(negotiateFormat('application/openmetrics-text'), 'openmetrics');
  t.is(negotiateFormat(undefined), 'text');
  t.is(negotiateFormat('*/*'), 'text');
  t.is(negotiateFormat('text/plain'), 'text');
  t.is(negotiateFormat('text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.5'), 'text');
  t.is(negotiateFormat('text/plain;q=0.5,application/openmetrics-text;q=0.8'), 'openmetrics');
  t.is(negotiateFormat('application/openmetrics-text;version=0.0.1'), 'text', 'a version Capstan does not write');
  t.is(negotiateFormat('application/openmetrics-text;q=0,text/plain'), 'text');
  t.is(negotiateFormat('application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited'), 'text');
  t.is(negotiateFormat('text/plain, application/openmetrics-text'), 'text', 'a tie goes to the first listed');
});

test('acceptsGzip: by name or *, not with q=0', (t) => {
  t.true(acceptsGzip('gzip'));
  t.true(acceptsGzip('deflate, gzip;q=0.5'));
  t.true(acceptsGzip('*'));
  t.true(acceptsGzip('GZIP'));
  t.false(acceptsGzip(undefined));
  t.false(acceptsGzip(''));
  t.false(acceptsGzip('identity'));
  t.false(acceptsGzip('gzip;q=0'));
  t.false(acceptsGzip('gzip;q=0, *'), 'an explicit refusal wins over *');
  t.false(acceptsGzip('br, deflate'));
});
