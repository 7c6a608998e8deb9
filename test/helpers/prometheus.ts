/**
 * A real Prometheus (Debian package `prometheus`) for the end-to-end tests: started on a free
 * loopback port with its storage in a directory of the test's, and asked through its HTTP API.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { freePort } from './wait';

export const hasPrometheus = spawnSync('prometheus', ['--version'], { encoding: 'utf8' }).status === 0;

export interface PrometheusServer {
  url: string;
  output(): string;
  stop(): Promise<void>;
}

export interface QueryResult {
  metric: Record<string, string>;
  value: [number, string];
}

function stopProcess(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Starts Prometheus on 127.0.0.1 with its storage under `directory`; resolves once it is ready. */
export async function startPrometheus(configFile: string, directory: string): Promise<PrometheusServer> {
  // The port is free when chosen but could be taken before Prometheus binds it: retry then.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawn(
      'prometheus',
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${path.join(directory, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // If the test worker dies, Prometheus must not outlive it.
    const killOnExit = (): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    process.once('exit', killOnExit);
    child.once('exit', () => process.removeListener('exit', killOnExit));
    const url = `http://127.0.0.1:${port}`;
    const server: PrometheusServer = { url, output: () => output, stop: () => stopProcess(child) };
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      try {
        if ((await fetch(`${url}/-/ready`)).status === 200) return server;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) {
        await server.stop();
        throw new Error(`Prometheus was not ready within 30 s:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (attempt === 3) throw new Error(`Prometheus exited with ${child.exitCode ?? child.signalCode}:\n${output}`);
  }
}

export async function apiGet<T>(prometheus: PrometheusServer, pathname: string, params: Record<string, string | string[]> = {}): Promise<T> {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) for (const v of [value].flat()) search.append(key, v);
  const response = await fetch(`${prometheus.url}${pathname}?${search}`);
  const body = (await response.json()) as { status: string; data: T; error?: string; errorType?: string };
  if (body.status !== 'success') throw new Error(`${pathname}: ${body.errorType}: ${body.error}`);
  return body.data;
}

/** An instant query; throws with Prometheus' message when the expression does not parse or evaluate. */
export async function query(prometheus: PrometheusServer, expression: string): Promise<QueryResult[]> {
  const response = await fetch(`${prometheus.url}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query: expression }),
  });
  const body = (await response.json()) as { status: string; data?: { resultType: string; result: QueryResult[] }; error?: string; errorType?: string };
  if (body.status !== 'success') throw new Error(`${body.errorType}: ${body.error}`);
  if (body.data!.resultType !== 'vector') throw new Error(`expected an instant vector, got a ${body.data!.resultType}`);
  return body.data!.result;
}

/** Runs `expression` and describes what is wrong with it, or returns undefined when it returns series. */
export async function problemWith(prometheus: PrometheusServer, expression: string): Promise<string | undefined> {
  try {
    const result = await query(prometheus, expression);
    return result.length === 0 ? 'returned no series' : undefined;
  } catch (error) {
    return `failed: ${(error as Error).message}`;
  }
}
