/**
 * Real-browser tests: Debian's chromium driven by playwright-core, and an agent the test can stop
 * and start again on the same port and state directory (to see the page notice and reconnect).
 *
 * Chromium runs headless with a fresh profile (playwright's launch() makes a temporary one) and
 * with its background networking off: this machine only allows loopback, and Chromium's own
 * connections (updates, sync, QUIC probes) would otherwise fail noisily or wait.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ExecutionContext } from 'ava';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { eventually, freePort } from './wait';
import { isolatedAgentArgs } from './agent';
import { CLI, REPO_ROOT } from './repo';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS_DIR = path.join(REPO_ROOT, 'test-artifacts');

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function chromiumAvailable(): boolean {
  return fs.existsSync(CHROMIUM);
}

/** Launches chromium for one test; closed at teardown. */
export async function launchBrowser(t: ExecutionContext): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  t.teardown(() => browser.close());
  return browser;
}

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** Console errors, uncaught exceptions and failed requests, as they happened. */
  errors: string[];
}

/**
 * A page in a context of its own (own sessionStorage), with every console error, page error and
 * failed request recorded: a test ends by asserting there were none.
 */
export async function openPage(browser: Browser, options: { colorScheme?: 'light' | 'dark'; viewport?: { width: number; height: number } } = {}): Promise<WatchedPage> {
  const context = await browser.newContext({
    viewport: options.viewport ?? { width: 1440, height: 1000 },
    colorScheme: options.colorScheme ?? 'light',
    deviceScaleFactor: 1,
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => {
    const failure = request.failure()?.errorText ?? 'failed';
    // Streams the page itself aborts (logs, events, leaving a page) are not failures.
    if (failure === 'net::ERR_ABORTED') return;
    errors.push(`request failed: ${request.method()} ${request.url()} ${failure}`);
  });
  return { page, context, errors };
}

/** Saves a PNG under test-artifacts/ (git-ignored) and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const file = path.join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

export { freePort };

export interface DashboardAgent {
  url: string;
  stateDir: string;
  /** The agent's --cgroup-parent: the test's own (see startDashboardAgent). */
  cgroupParent: string;
  port: number;
  viewerToken: string;
  operatorToken: string;
  /** The "#token=" URL the agent printed at its first start. */
  printedUrl: string;
  output(): string;
  /** Stops the agent (SIGTERM, then SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** Starts it again on the same port and state directory (same tokens). */
  restart(): Promise<void>;
}

/**
 * The real agent on a fixed loopback port and a state directory of the test's own, so it can be
 * restarted under the page's feet. Like test/helpers/agent.ts, it gets a cgroup parent of its own
 * (`/capstan-test-agent-<random>`) unless the test gives `--cgroup-parent`: the agent sets block
 * I/O accounting up in its parent, and the default `/capstan` is the host's. Removed (process,
 * directory and the parent this helper chose) at teardown.
 */
export async function startDashboardAgent(t: ExecutionContext, extraArgs: string[] = []): Promise<DashboardAgent> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-dashboard-'));
  const isolated = isolatedAgentArgs(extraArgs);
  const port = await freePort();
  let child: ChildProcess | undefined;
  let output = '';

  const launch = async (): Promise<void> => {
    const started = spawn(process.execPath, [CLI, 'agent', '--listen', `127.0.0.1:${port}`, '--state-dir', stateDir, ...isolated.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = started;
    started.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    started.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await eventually(
      async () => {
        if (started.exitCode !== null) throw new Error(`agent exited with ${started.exitCode}:\n${output}`);
        try {
          const file = JSON.parse(fs.readFileSync(path.join(stateDir, 'agent.json'), 'utf8')) as { pid: number };
          return file.pid === started.pid ? true : undefined;
        } catch {
          return undefined;
        }
      },
      60_000,
      'the agent to start',
    );
  };

  const stop = async (): Promise<void> => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    const timer = setTimeout(() => running.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  t.teardown(async () => {
    await stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
    await isolated.removeParent();
  });

  await launch();
  // agent.json is written just before the URL is logged: wait for the line.
  const printed = await eventually(async () => /(http:\/\/\S+\/#token=\S+)/.exec(output) ?? undefined, 10_000, 'the printed dashboard URL');
  const { tokens } = JSON.parse(fs.readFileSync(path.join(stateDir, 'tokens.json'), 'utf8')) as { tokens: Array<{ role: string; token: string }> };
  return {
    url: `http://127.0.0.1:${port}`,
    stateDir,
    cgroupParent: isolated.cgroupParent,
    port,
    viewerToken: tokens.find((token) => token.role === 'viewer')!.token,
    operatorToken: tokens.find((token) => token.role === 'operator')!.token,
    printedUrl: printed[1]!,
    output: () => output,
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
  };
}
