/**
 * /metrics on the real agent answers as Prometheus asks: OpenMetrics for its Accept header, gzip
 * for `Accept-Encoding: gzip`, with Content-Type, Content-Encoding, Content-Length and Vary right;
 * plain text for a client that asks for nothing. The bodies are read as raw bytes (node:http,
 * which does not decompress), so what is checked is what went over the wire.
 */
import { spawnSync } from 'node:child_process';
import * as http from 'node:http';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import test from 'ava';
import { startAgentProcess, eventually } from '../helpers/agent';
import { TestCgroupTree } from '../helpers/cgroups';
import { requireCapability } from '../helpers/repo';

/** Prometheus 2.42's Accept header for a scrape. */
const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function rawRequest(url: string, headers: Record<string, string>, method = 'GET'): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${url}/metrics`, { method, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.setTimeout(60_000, () => request.destroy(new Error('GET /metrics timed out after 60 s')));
    request.end();
  });
}

function varyOf(answer: RawAnswer): string[] {
  return String(answer.headers['vary'] ?? '')
    .split(',')
    .map((v) => v.trim().toLowerCase());
}

test('GET /metrics: OpenMetrics and gzip when Prometheus asks, plain text otherwise, headers matching the bytes sent', async (t) => {
  if (!requireCapability(process.getuid?.() === 0, 'root (real cgroups)')) return t.log('skipped: needs root');
  const agent = await startAgentProcess(t, ['--interval', '500ms']);
  const tree = TestCgroupTree.forTest(t);
  const cgroup = tree.child('negotiated');

  // The test's own cgroup in the series, so the bodies checked below hold what the test made.
  await eventually(
    async () => ((await rawRequest(agent.url, {})).body.toString('utf8').includes(`container_memory_usage_bytes{id="${cgroup}"`) ? true : undefined),
    60_000,
    `${cgroup} in /metrics`,
  );

  const scraped = await rawRequest(agent.url, { accept: PROMETHEUS_ACCEPT, 'accept-encoding': 'gzip' });
  t.is(scraped.status, 200);
  t.is(scraped.headers['content-type'], 'application/openmetrics-text; version=1.0.0; charset=utf-8');
  t.is(scraped.headers['content-encoding'], 'gzip');
  t.is(Number(scraped.headers['content-length']), scraped.body.length, 'Content-Length counts the compressed bytes sent');
  t.true(varyOf(scraped).includes('accept') && varyOf(scraped).includes('accept-encoding'), String(scraped.headers['vary']));
  const openMetrics = gunzipSync(scraped.body).toString('utf8');
  // One gzip member (header, deflate data, CRC-32 and size), as readers that stop after the first member (curl) need.
  t.is(inflateRawSync(scraped.body.subarray(10, scraped.body.length - 8)).toString('utf8'), openMetrics);
  t.true(openMetrics.length > 5 * scraped.body.length, `gzip shrinks the body (${openMetrics.length} → ${scraped.body.length} bytes)`);
  t.true(openMetrics.endsWith('\n# EOF\n'));
  t.is(openMetrics.indexOf('# EOF'), openMetrics.length - '# EOF\n'.length);
  t.false(openMetrics.includes('\n\n'), 'no blank line in OpenMetrics');
  const omLines = openMetrics.split('\n');
  t.true(omLines.includes('# TYPE container_cpu_usage_seconds counter'));
  t.false(omLines.some((l) => /^# TYPE \S+_total counter$/.test(l)), 'counter families are named without _total');
  t.true(omLines.some((l) => l.startsWith(`container_cpu_usage_seconds_total{id="${cgroup}"`)));
  t.true(omLines.includes('# TYPE capstan_collector_warnings counter'));

  const plain = await rawRequest(agent.url, {});
  t.is(plain.status, 200);
  t.is(plain.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  t.is(plain.headers['content-encoding'], undefined);
  t.is(Number(plain.headers['content-length']), plain.body.length);
  t.true(varyOf(plain).includes('accept-encoding'));
  const text = plain.body.toString('utf8');
  t.false(text.includes('# EOF'));
  t.true(text.split('\n').includes('# TYPE container_cpu_usage_seconds_total counter'));
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  t.is(promtool.status, 0, `promtool check metrics: ${promtool.stdout}${promtool.stderr}`);

  // Gzip of the text format, and a refusal of gzip by quality 0.
  const textGzipped = await rawRequest(agent.url, { accept: 'text/plain;version=0.0.4', 'accept-encoding': 'deflate, gzip' });
  t.is(textGzipped.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  t.is(textGzipped.headers['content-encoding'], 'gzip');
  t.true(gunzipSync(textGzipped.body).toString('utf8').includes(`container_memory_usage_bytes{id="${cgroup}"`));
  const refused = await rawRequest(agent.url, { accept: PROMETHEUS_ACCEPT, 'accept-encoding': 'gzip;q=0' });
  t.is(refused.headers['content-encoding'], undefined);
  t.true(refused.body.toString('utf8').endsWith('# EOF\n'));

  // HEAD: the same headers, no body.
  const head = await rawRequest(agent.url, { accept: PROMETHEUS_ACCEPT, 'accept-encoding': 'gzip' }, 'HEAD');
  t.is(head.status, 200);
  t.is(head.headers['content-encoding'], 'gzip');
  t.true(Number(head.headers['content-length']) > 0);
  t.is(head.body.length, 0);
});
