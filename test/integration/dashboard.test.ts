/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core) against the real
 * agent binary and real cgroups under a capstan-test-<random> parent:
 *
 * - operator: signs in with the URL the agent printed (the token leaves the address bar), sees a
 *   test cgroup in the table with a CPU value that changes between ticks, opens its page and sees
 *   the CPU chart gain points, sets memory to 64m in the limits editor (the cgroup file holds
 *   67108864, the limit line moves), tries 3m (the API's message, word for word; nothing changes),
 *   and gets the OOM toast within 2 s of a kill in another test cgroup;
 * - viewer: signs in by pasting a token, sees no edit controls, and a forged edit is refused;
 * - the agent going away: the page says so and reconnects by itself when it is back;
 * - a Docker container of a private dockerd (test/helpers/engines.ts): the overview names it by
 *   Docker's name with its image, the limits editor's 64m reaches Docker (docker inspect's
 *   HostConfig.Memory) and the kernel, and the inspect tab shows docker inspect's document.
 *
 * Every test fails on any console error, uncaught exception or failed request. Screenshots of the
 * overview, the container page and the OOM toast (light and dark) go to test-artifacts/.
 */
import * as fs from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import type { Page } from 'playwright-core';
import { detectLayout } from '../../server/cgroup/layout';
import { CgroupManager } from '../../server/cgroup/manage';
import type { ContainerInfo } from '../../server/model';
import { eventually } from '../helpers/agent';
import { chromiumAvailable, freePort, launchBrowser, openPage, screenshot, startDashboardAgent, type DashboardAgent } from '../helpers/browser';
import { blockDeviceDirectory, directIo, withinFivePercent } from '../helpers/block-io';
import { TestCgroupTree } from '../helpers/cgroups';
import { dockerAvailable, engineLeftovers, startDockerd } from '../helpers/engines';
import { REPO_ROOT, requireCapability } from '../helpers/repo';

const isRoot = process.getuid?.() === 0;
const capable = requireCapability(isRoot && chromiumAvailable(), 'root (real cgroups) and /usr/bin/chromium (apt-get install chromium)');
const serial = capable ? test.serial : test.skip;
/** Docker as well: a private dockerd (test/helpers/engines.ts). Never skipped in CI either. */
const dockerSerial = capable && requireCapability(dockerAvailable(), 'Debian docker.io and busybox-static (apt-get install docker.io busybox-static)') ? test.serial : test.skip;
const DOCKER_IMAGE = 'capstan-test-busybox';

// The Docker test's dockerd is stopped by its teardown; nothing of it may remain.
test.after.always((t) => {
  t.deepEqual(engineLeftovers(), [], 'nothing of the test dockerd is left: processes, mounts, cgroups, directories');
});

const SHIM = `${REPO_ROOT}/native/build/Release/capstan-shim`;
const MIB = 1024 * 1024;
/** The bound from the kill to the toast on an open page. Units: milliseconds. */
const OOM_TOAST_WITHIN_MS = 2000;

async function api<T>(agent: DashboardAgent, pathname: string, init: RequestInit & { token?: string } = {}): Promise<{ status: number; body: T }> {
  const response = await fetch(agent.url + pathname, {
    ...init,
    headers: { authorization: `Bearer ${init.token ?? agent.operatorToken}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
  });
  return { status: response.status, body: (await response.json()) as T };
}

/** The id the agent gives a cgroup, once a tick has seen it. */
async function containerId(agent: DashboardAgent, cgroupPath: string): Promise<string> {
  return eventually(
    async () => {
      const { status, body } = await api<{ info: ContainerInfo }>(agent, `/api/v1/containers/${encodeURIComponent(cgroupPath)}`);
      return status === 200 ? body.info.id : undefined;
    },
    20_000,
    `the agent to see ${cgroupPath}`,
  );
}

function memoryLimitFile(cgroups: CgroupManager, cgroup: string): string {
  return cgroups.layout.controllersOn === 2 ? cgroups.readControl('unified', cgroup, 'memory.max') : cgroups.readControl('memory', cgroup, 'memory.limit_in_bytes');
}

async function text(page: Page, selector: string): Promise<string> {
  return ((await page.locator(selector).first().textContent()) ?? '').trim();
}

// The browser globals the probes below use. They run in the page (playwright serialises them);
// the root tsconfig has no DOM library, so they are declared here, for this module only.
interface ProbeElement {
  textContent: string | null;
  hidden: boolean;
  dataset: Record<string, string | undefined>;
}
declare const document: { querySelector(selector: string): ProbeElement | null };
declare const location: { hash: string };
declare const sessionStorage: { getItem(key: string): string | null };

/**
 * Waits until `probe(arg)`, run in the page, is true. A function, not a string: the page's CSP
 * (rightly) refuses to evaluate strings.
 */
async function until<A>(page: Page, what: string, probe: (arg: A) => boolean, arg: A, timeoutMs = 10_000): Promise<void> {
  try {
    await page.waitForFunction(probe as (arg: unknown) => boolean, arg as unknown, { timeout: timeoutMs, polling: 100 });
  } catch (error) {
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${(error as Error).message.split('\n')[0]}`);
  }
}

const textIs = ([selector, expected]: [string, string]): boolean => document.querySelector(selector)?.textContent === expected;
const textMatches = ([selector, pattern]: [string, string]): boolean => new RegExp(pattern).test(document.querySelector(selector)?.textContent ?? '');
const dataAtLeast = ([selector, key, minimum]: [string, string, number]): boolean => Number(document.querySelector(selector)?.dataset[key]) >= minimum;
const dataIs = ([selector, key, expected]: [string, string, string]): boolean => document.querySelector(selector)?.dataset[key] === expected;

function noErrors(t: ExecutionContext, errors: readonly string[]): void {
  t.deepEqual(errors, [], 'no console errors, page errors or failed requests');
}

/**
 * Runs `step`, which provokes an HTTP error on purpose (a refused value), and removes the one line
 * Chromium logs for any fetch answered with an error status; anything else stays to fail the test.
 */
async function expectingHttpError<T>(errors: string[], status: number, step: () => Promise<T>): Promise<T> {
  const before = errors.length;
  const result = await step();
  const index = errors.findIndex((line, i) => i >= before && line.includes(`status of ${status}`));
  if (index >= 0) errors.splice(index, 1);
  return result;
}

serial('operator: printed URL signs in; live table and charts; limits editor; OOM toast', async (t) => {
  const tree = TestCgroupTree.forTest(t);
  const busy = tree.child('busy');
  tree.setCpuQuota(busy, 50_000);
  await tree.busyLoop(busy);
  const limited = tree.child('limits');
  await tree.run(limited, 'sleep 600');
  const oom = tree.child('oom');
  tree.setMemoryLimit(oom, 32 * MIB);
  const io = tree.child('io');

  const agent = await startDashboardAgent(t, ['--interval', '1s']);
  const [busyId, limitedId, oomId, ioId] = [await containerId(agent, busy), await containerId(agent, limited), await containerId(agent, oom), await containerId(agent, io)];
  // 20 MiB written and read back with O_DIRECT on a disk: the table's BLOCK I/O must show it.
  const ioDirectory = fs.mkdtempSync(`${blockDeviceDirectory().directory}/capstan-dashboard-io-`);
  t.teardown(() => fs.rmSync(ioDirectory, { recursive: true, force: true }));
  await directIo(tree, io, `${ioDirectory}/data`, 20 * MIB);
  const browser = await launchBrowser(t);
  const { page, errors } = await openPage(browser);

  // Sign in with the URL the agent printed: the token moves to sessionStorage, out of the address bar.
  t.true(agent.printedUrl.includes('#token='));
  await page.goto(agent.printedUrl);
  await page.waitForSelector('#containers-table');
  t.false(page.url().includes('token'), `the address bar shows ${page.url()}`);
  t.is(await page.evaluate(() => sessionStorage.getItem('capstan-token')), agent.operatorToken);
  t.regex(await text(page, '#who'), /operator/);

  // The table: every cgroup, filtered to this test's tree; the busy cgroup's CPU % changes per tick.
  await page.check('#scope-all');
  await page.fill('#filter', tree.root);
  const cpuCell = `#containers-table tr[data-id="${busyId}"] td[data-field="CPUPerc"] .value`;
  await page.waitForSelector(cpuCell, { timeout: 15_000 });
  await until(page, 'the busy cgroup to show a CPU %', textMatches, [cpuCell, '%$'], 15_000);
  const firstCpu = await text(page, cpuCell);
  t.regex(firstCpu, /^\d+\.\d\d%$/, 'docker stats formatting');
  await eventually(async () => ((await text(page, cpuCell)) !== firstCpu ? true : undefined), 10_000, 'the CPU value to change between ticks');
  t.is(await page.locator('#containers-table tbody tr:not([hidden])').count(), 5, 'the tree root and its four children');
  const blockCell = `#containers-table tr[data-id="${ioId}"] td[data-field="BlockIO"] .value`;
  await until(page, 'the io cgroup\'s block I/O', textMatches, [blockCell, 'MB / [0-9.]+MB$'], 15_000);
  const [readText, writeText] = (await text(page, blockCell)).split(' / ').map((part) => Number.parseFloat(part) * 1e6);
  t.true(withinFivePercent(readText, 20 * MIB) && withinFivePercent(writeText, 20 * MIB), `BLOCK I/O shows ${await text(page, blockCell)} for 20 MiB read and written`);
  // Sorting by CPU puts the busy cgroup (or its parent, which contains it) on top.
  await page.click('button.sort[data-field="CPUPerc"]');
  await until(page, 'CPU sort', textMatches, ['#containers-table tbody tr:not([hidden]) .row-link', 'busy$|capstan-test-[0-9a-f]+$']);
  t.is(await page.getAttribute('#containers-table th:has(button[data-field="CPUPerc"])', 'aria-sort'), 'descending');
  await screenshot(page, 'dashboard-overview');

  // The container page: charts start from history, then gain a point per tick.
  await page.click(`#containers-table tr[data-id="${busyId}"] a.row-link`);
  await page.waitForSelector('#chart-cpu');
  await until(page, 'the CPU chart to have points', dataAtLeast, ['#chart-cpu', 'points', 1], 15_000);
  const pointsBefore = Number(await page.getAttribute('#chart-cpu', 'data-points'));
  await eventually(async () => (Number(await page.getAttribute('#chart-cpu', 'data-points')) > pointsBefore ? true : undefined), 10_000, 'the CPU chart to gain points');
  t.is(await page.getAttribute('#chart-cpu', 'data-limit'), '50', 'the quota line at 0.5 CPU = 50%');
  await page.waitForSelector('#processes-table tbody tr');
  await screenshot(page, 'dashboard-container');

  // The limits editor: memory 64m; confirmed as old → new; the cgroup file holds 67108864 and the line moves.
  await page.goto(`${agent.url}/#/containers/${limitedId}`);
  await page.waitForSelector('#limits-form');
  await until(page, 'the current limits', textIs, ['td.current[data-field="memory"]', 'unlimited']);
  t.is(await page.getAttribute('#chart-memory', 'data-limit'), '', 'no limit line without a limit');
  await page.fill('#limit-memory', '64m');
  t.is(await text(page, 'td.preview[data-field="memory"]'), 'unlimited → 64MiB');
  await page.click('#limits-review');
  await page.waitForSelector('#limits-confirm[open]');
  t.regex(await text(page, '#limits-confirm .change-list'), /Memory:\s*unlimited → 64MiB \(64m\)/);
  await page.click('#limits-confirm button[value="confirm"]');
  await until(page, 'the update to apply', textMatches, ['#limits-result', 'Applied']);
  t.is(memoryLimitFile(tree.manager, limited), String(64 * MIB));
  t.is(await text(page, 'td.current[data-field="memory"]'), '64MiB');
  await until(page, 'the memory limit line to move', dataIs, ['#chart-memory', 'limit', String(64 * MIB)]);

  // An invalid value: the API's message word for word, and nothing changes.
  const direct = await api<{ error: { message: string } }>(agent, `/api/v1/containers/${limitedId}/limits`, { method: 'PATCH', body: JSON.stringify({ memory: '3m' }) });
  t.is(direct.status, 400);
  await page.fill('#limit-memory', '3m');
  await page.click('#limits-review');
  await expectingHttpError(errors, 400, async () => {
    await page.click('#limits-confirm button[value="confirm"]');
    await page.waitForSelector('#limits-error:not([hidden])');
  });
  t.is(await text(page, '#limits-error .api-message'), direct.body.error.message);
  t.is(memoryLimitFile(tree.manager, limited), String(64 * MIB));
  t.is(await text(page, 'td.current[data-field="memory"]'), '64MiB');
  t.is(await page.getAttribute('#chart-memory', 'data-limit'), String(64 * MIB));

  // The cgroup v2 refusal (this host is v1, so the agent's 409 is played back by the browser; the
  // forced retry goes to the real agent): the message as the API wrote it, then an explicit force.
  const v2Refusal =
    'unable to set memory limit to 8388608 (current usage: 9437184, peak usage: unknown): on cgroup v2 the kernel would reclaim memory and then ' +
    'OOM-kill processes in the container to get below it; pass force (capstan update --force) to apply it anyway';
  const sent: Array<Record<string, unknown>> = [];
  await page.route('**/api/v1/containers/*/limits', async (route) => {
    if (route.request().method() !== 'PATCH') return route.continue();
    const body = route.request().postDataJSON() as Record<string, unknown>;
    sent.push(body);
    if (body['force'] === true) return route.continue();
    return route.fulfill({ status: 409, contentType: 'application/json', body: JSON.stringify({ error: { code: 'memory_below_usage', message: v2Refusal, flag: '--memory' } }) });
  });
  await page.fill('#limit-memory', '8m');
  await page.click('#limits-review');
  await expectingHttpError(errors, 409, async () => {
    await page.click('#limits-confirm button[value="confirm"]');
    await page.waitForSelector('#limits-force');
  });
  t.is(await text(page, '#limits-error .api-message'), v2Refusal);
  t.is(memoryLimitFile(tree.manager, limited), String(64 * MIB), 'nothing written before the force');
  await page.click('#limits-force');
  await page.waitForSelector('#force-dialog[open]');
  await page.click('#force-dialog button[value="confirm"]');
  await until(page, 'the forced update', textMatches, ['#limits-result', 'Applied']);
  t.deepEqual(sent, [{ memory: '8m' }, { memory: '8m', force: true }]);
  t.is(memoryLimitFile(tree.manager, limited), String(8 * MIB));
  await until(page, 'the limit line at 8 MiB', dataIs, ['#chart-memory', 'limit', String(8 * MIB)]);
  await page.unroute('**/api/v1/containers/*/limits');

  // An OOM kill elsewhere: the toast on this open page within 2 s, naming container, limit, usage.
  await eventually(
    async () => {
      const { body } = await api<{ stats: { memoryLimitIsSet?: boolean } }>(agent, `/api/v1/containers/${oomId}`);
      return body.stats.memoryLimitIsSet ? true : undefined;
    },
    20_000,
    'the agent to see the OOM cgroup limited',
  );
  const hog = await tree.holdMemory(oom, 96);
  const killedAt = await new Promise<number>((resolve) => hog.once('exit', () => resolve(Date.now())));
  t.is(hog.signalCode, 'SIGKILL');
  await page.waitForSelector(`.toast-oom[data-container="${oomId}"]`, { timeout: OOM_TOAST_WITHIN_MS + 3000 });
  const shownAt = Date.now();
  t.true(shownAt - killedAt <= OOM_TOAST_WITHIN_MS, `the toast appeared ${shownAt - killedAt} ms after the kill`);
  const toastText = await text(page, `.toast-oom[data-container="${oomId}"]`);
  t.true(toastText.includes(oom), `the toast names the container: ${toastText}`);
  t.is(await text(page, `.toast-oom[data-container="${oomId}"] .oom-limit`), '32MiB');
  t.regex(await text(page, `.toast-oom[data-container="${oomId}"] .oom-usage`), /^\d+(\.\d+)?(MiB|KiB)$/);
  await until(page, 'the unseen-events badge', () => document.querySelector('#unseen-badge')?.hidden === false, undefined);
  await screenshot(page, 'dashboard-oom-toast');

  // The toast links to the container; the events page lists the kill, highlighted.
  await page.click(`.toast-oom[data-container="${oomId}"] a.toast-link`);
  await until(page, 'the OOM container page', (id) => decodeURIComponent(location.hash) === `#/containers/${id}` && (document.querySelector('#container-name')?.textContent ?? '').endsWith('/oom'), oomId);
  await page.click('#nav a[data-route="events"]');
  await page.waitForSelector('tr.oom-row');
  t.true((await text(page, 'tr.oom-row')).includes('limit 32MiB'));
  await screenshot(page, 'dashboard-events');
  t.true(await page.locator('#unseen-badge').isHidden(), 'opening the events page marks them seen');

  // Leaving a container page while its charts wait for their next frame (the history has just
  // arrived) must not redraw the destroyed charts: back and forth, at varying moments.
  for (let round = 0; round < 20; round++) {
    await page.evaluate((id) => (location.hash = `#/containers/${id}`), limitedId);
    await page.waitForTimeout((round * 7) % 45);
    await page.evaluate(() => (location.hash = '#/'));
  }
  await page.waitForTimeout(200);

  noErrors(t, errors);
});

serial('viewer: pasted token; sees everything, no edit controls; a forged edit is refused; dark scheme', async (t) => {
  const tree = TestCgroupTree.forTest(t);
  const watched = tree.child('watched');
  tree.setMemoryLimit(watched, 128 * MIB);
  await tree.run(watched, 'sleep 600');
  const agent = await startDashboardAgent(t, ['--interval', '1s']);
  const watchedId = await containerId(agent, watched);

  // Security headers on the page itself.
  const index = await fetch(`${agent.url}/`);
  t.is(index.headers.get('x-frame-options'), 'DENY');
  const csp = index.headers.get('content-security-policy') ?? '';
  t.regex(csp, /script-src 'self'/);
  t.regex(csp, /frame-ancestors 'none'/);
  t.notRegex(csp, /unsafe-inline|unsafe-eval/);
  t.is(index.headers.get('x-content-type-options'), 'nosniff');
  t.notRegex(await index.text(), /<script>|<style|style=/, 'no inline scripts or styles in the page');

  const browser = await launchBrowser(t);
  const { page, errors } = await openPage(browser, { colorScheme: 'dark' });
  await page.goto(`${agent.url}/`);
  await page.waitForSelector('#signin-form');
  await page.fill('#token-input', 'not-a-token');
  await page.click('#signin-form button[type="submit"]');
  await page.waitForSelector('#signin-error:not([hidden])');
  t.regex(await text(page, '#signin-error'), /does not know this token/);
  // The refused sign-in answered 401 on purpose; only what follows must be clean.
  errors.length = 0;
  await page.fill('#token-input', agent.viewerToken);
  await page.click('#signin-form button[type="submit"]');
  await page.waitForSelector('#containers-table');
  t.regex(await text(page, '#who'), /viewer/);
  t.true(await page.locator('#nav-run').isHidden(), 'no Run for viewers');

  // Keyboard only: from the filter, Tab reaches the row's link; Enter opens the container.
  await page.check('#scope-all');
  await page.fill('#filter', watched);
  await page.waitForSelector(`#containers-table tr[data-id="${watchedId}"]`);
  await page.focus('#filter');
  let reached = false;
  for (let presses = 0; presses < 20 && !reached; presses++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { className: string } | null } }).document.activeElement?.className === 'row-link');
  }
  t.true(reached, 'Tab reaches the row link');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#limits-heading');
  t.is(await page.evaluate(() => decodeURIComponent(location.hash)), `#/containers/${watchedId}`);
  // The tabs follow the arrow keys.
  await page.focus('#tab-processes');
  await page.keyboard.press('ArrowRight');
  t.is(await page.getAttribute('#tab-ports', 'aria-selected'), 'true');
  t.true(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { id: string } | null } }).document.activeElement?.id === 'tab-ports'));
  await page.keyboard.press('ArrowLeft');
  await until(page, 'the limits', textIs, ['td.current[data-field="memory"]', '128MiB']);
  await until(page, 'the CPU chart to have points', dataAtLeast, ['#chart-cpu', 'points', 2], 15_000);
  t.is(await page.locator('#limits-form').count(), 0, 'no limits editor');
  t.is(await page.locator('.limits-panel input, .limits-panel button').count(), 0, 'no inputs or buttons in the limits panel');
  t.is(await page.locator('#container-actions button').count(), 0, 'no lifecycle actions');
  await screenshot(page, 'dashboard-container-viewer-dark');

  // A forged edit from the page with the viewer's token: 403, and the cgroup keeps its limit.
  const forged = await expectingHttpError(errors, 403, () => page.evaluate(async ({ id, token }) => {
    const response = await fetch(`/api/v1/containers/${id}/limits`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ memory: '64m' }),
    });
    return { status: response.status, body: (await response.json()) as { error: { code: string } } };
  }, { id: watchedId, token: agent.viewerToken }));
  t.is(forged.status, 403);
  t.is(forged.body.error.code, 'forbidden');
  t.is(memoryLimitFile(tree.manager, watched), String(128 * MIB));
  await page.goto(`${agent.url}/#/`);
  await page.fill('#filter', tree.root);
  await page.waitForSelector(`#containers-table tr[data-id="${watchedId}"]`);
  await screenshot(page, 'dashboard-overview-dark');
  noErrors(t, errors);
});

serial('the page says when the agent is unreachable and reconnects by itself', async (t) => {
  const agent = await startDashboardAgent(t, ['--interval', '1s']);
  const browser = await launchBrowser(t);
  const { page, errors } = await openPage(browser);
  await page.goto(agent.printedUrl);
  await page.waitForSelector('#containers-table');
  await until(page, 'live', textIs, ['#connection', 'live']);
  noErrors(t, errors);

  await agent.stop();
  await page.waitForSelector('#banner:not([hidden])', { timeout: 10_000 });
  t.regex(await text(page, '#banner'), /Cannot reach the agent/);
  t.is(await text(page, '#connection'), 'offline');
  await screenshot(page, 'dashboard-offline');

  await agent.restart();
  await page.waitForSelector('#banner', { state: 'hidden', timeout: 20_000 });
  t.is(await text(page, '#connection'), 'live');
  // Data flows again without a reload: the host chart gains points.
  const before = Number(await page.getAttribute('#chart-host-cpu', 'data-points'));
  await eventually(async () => (Number(await page.getAttribute('#chart-host-cpu', 'data-points')) > before ? true : undefined), 10_000, 'host points after the reconnect');
  // While the agent was down the browser logged refused connections; after it, nothing.
  errors.length = 0;
  await page.waitForTimeout(2500);
  noErrors(t, errors);
  t.true(fs.existsSync(agent.stateDir));
});

serial('operator: the run form starts a capstan container; its page shows ports, logs, inspect and runs the actions', async (t) => {
  if (!requireCapability(fs.existsSync(SHIM), 'the built capstan-shim')) return t.pass('skipped: no shim');
  const tree = TestCgroupTree.forTest(t);
  const agent = await startDashboardAgent(t, ['--interval', '1s', '--cgroup-parent', `${tree.root}/run`]);
  // Registered last, so it runs first: remove the containers through the agent (shims included).
  t.teardown(async () => {
    const { body } = await api<{ containers: Array<{ id: string }> }>(agent, '/api/v1/runtime/containers').catch(() => ({ body: { containers: [] } }));
    for (const { id } of body.containers) await fetch(`${agent.url}/api/v1/containers/${id}?force=1`, { method: 'DELETE', headers: { authorization: `Bearer ${agent.operatorToken}` } }).catch(() => undefined);
  });
  const hostPort = await freePort();
  const browser = await launchBrowser(t);
  const { page, errors } = await openPage(browser);
  await page.goto(agent.printedUrl);
  await page.waitForSelector('#containers-table');

  await page.click('#nav-run');
  await page.waitForSelector('#run-form');
  // On the host's filesystem (read-only): a tiny web server that says hello first.
  await page.fill('#run-command', `sh -c "echo hello-from-capstan; exec ${process.execPath} -e 'require(\\"http\\").createServer((q, s) => s.end(\\"ok\\")).listen(8000, \\"127.0.0.1\\")'"`);
  await page.fill('#run-name', 'dashboard-web');
  await page.fill('#run-memory', '64m');
  await page.fill('#run-cpus', '0.5');
  await page.fill('#run-ports', `127.0.0.1:${hostPort}:8000`);
  await page.click('#run-form button[type="submit"]');
  await until(page, 'the new container page', () => /^#\/containers\/[0-9a-f]{64}$/.test(location.hash) && document.querySelector('#container-name')?.textContent === 'dashboard-web', undefined, 15_000);
  await until(page, 'running', textIs, ['.title-row .badge', 'running'], 15_000);
  await until(page, 'the limits', textIs, ['td.current[data-field="memory"]', '64MiB'], 15_000);
  t.is(await text(page, 'td.current[data-field="cpus"]'), '0.5');
  // The published port answers through the agent.
  t.is(await eventually(async () => (await fetch(`http://127.0.0.1:${hostPort}/`).then((r) => r.text()).catch(() => undefined)) ?? undefined, 10_000, 'the published port'), 'ok');

  await page.click('#tab-ports');
  await until(page, 'the published mapping', textMatches, ['#ports-published', `127\\.0\\.0\\.1:${hostPort} → 8000/tcp`]);
  await until(page, 'the listening socket', textMatches, ['#ports-listening', '127\\.0\\.0\\.1\\s*8000']);
  await page.click('#tab-logs');
  await until(page, 'the log line', textMatches, ['#logs-output', 'hello-from-capstan']);
  await page.click('#tab-inspect');
  await until(page, 'inspect', textMatches, ['#inspect-json', '"/dashboard-web"']);
  await screenshot(page, 'dashboard-run-container');

  await page.click('button[data-action="pause"]');
  await until(page, 'paused', textIs, ['.title-row .badge', 'paused'], 10_000);
  await page.click('button[data-action="unpause"]');
  await until(page, 'running again', textIs, ['.title-row .badge', 'running'], 10_000);
  await page.click('button[data-action="rm"]');
  await page.waitForSelector('#remove-dialog[open]');
  await page.click('#remove-dialog button[value="confirm"]');
  await until(page, 'the overview', () => location.hash === '#/', undefined, 15_000);
  const { body } = await api<{ containers: unknown[] }>(agent, '/api/v1/runtime/containers');
  t.deepEqual(body.containers, []);
  noErrors(t, errors);
});

dockerSerial('operator: a Docker container by its Docker name and image; the limits editor changes it through Docker; inspect is Docker\'s document', async (t) => {
  const docker = await startDockerd(t);
  t.log(`dockerd in ${docker.directory} answered after ${docker.startMs} ms`);
  await docker.importBusybox(DOCKER_IMAGE);
  const run = await docker.cli(['run', '-d', ...docker.runFlags, '--name', 'web', DOCKER_IMAGE, 'sleep', '600']);
  t.is(run.status, 0, run.stderr);
  const dockerId = run.stdout.trim();
  const agent = await startDashboardAgent(t, ['--interval', '1s', '--docker-host', docker.address, '--podman-host', 'none']);
  // The agent names it from Docker (the cgroup alone would give its path): wait for that first.
  const info = await eventually(
    async () => {
      const { status, body } = await api<{ info: ContainerInfo }>(agent, '/api/v1/containers/web');
      return status === 200 && body.info.source === 'docker' ? body.info : undefined;
    },
    20_000,
    'the agent to name web from Docker',
  );
  t.is(info.id, dockerId);
  t.true(info.cgroupPath.startsWith(`${docker.cgroupParent}/`) && info.cgroupPath.endsWith(dockerId), info.cgroupPath);
  const cgroups = new CgroupManager(detectLayout());
  const browser = await launchBrowser(t);
  const { page, errors } = await openPage(browser);
  await page.goto(agent.printedUrl);
  await page.waitForSelector('#containers-table');

  // The overview, in its default scope (containers, not every cgroup): Docker's name, its image
  // and its ID as docker stats prints it; the cgroup path underneath.
  const row = `#containers-table tr[data-id="${dockerId}"]`;
  await page.waitForSelector(row, { timeout: 15_000 });
  t.false(await page.isChecked('#scope-all'));
  t.is(await text(page, `${row} a.row-link`), 'web');
  t.is(await text(page, `${row} td[data-field="Name"] .image`), DOCKER_IMAGE);
  t.true(await page.isVisible(`${row} td[data-field="Name"] .image`));
  t.is(await text(page, `${row} td[data-field="Name"] .sub`), info.cgroupPath);
  t.is(await text(page, `${row} td[data-field="ID"] .value`), dockerId.slice(0, 12));
  await until(page, 'web to show as running', textIs, [`${row} td[data-field="State"] .badge`, 'running'], 15_000);
  await until(page, 'web to show its PIDs', textIs, [`${row} td[data-field="PIDs"] .value`, '1'], 15_000);
  await page.fill('#filter', 'web');
  await until(page, 'the filter', textMatches, ['#row-count', '^1 of'], 5000);
  await screenshot(page, 'dashboard-docker-overview');

  // Its page: what Docker says it is.
  await page.click(`${row} a.row-link`);
  await until(page, 'the page of web', (id) => decodeURIComponent(location.hash) === `#/containers/${id}` && document.querySelector('#container-name')?.textContent === 'web', dockerId);
  const fact = async (label: string): Promise<string> => ((await page.locator('.container-head dl.facts dt', { hasText: label }).locator('xpath=following-sibling::dd[1]').first().textContent()) ?? '').trim();
  t.is(await fact('Image'), DOCKER_IMAGE);
  t.is(await fact('Runtime'), 'docker');
  t.is(await fact('cgroup'), info.cgroupPath);

  // The limits editor: memory 64m, confirmed as old → new, sent to Docker (POST /containers/{id}/update).
  await page.waitForSelector('#limits-form');
  await until(page, 'the current limits', textIs, ['td.current[data-field="memory"]', 'unlimited']);
  await page.fill('#limit-memory', '64m');
  t.is(await text(page, 'td.preview[data-field="memory"]'), 'unlimited → 64MiB');
  await page.click('#limits-review');
  await page.waitForSelector('#limits-confirm[open]');
  t.regex(await text(page, '#limits-confirm .change-list'), /Memory:\s*unlimited → 64MiB \(64m\)/);
  await page.click('#limits-confirm button[value="confirm"]');
  await until(page, 'the update to apply', textMatches, ['#limits-result', 'Applied'], 15_000);
  // Docker holds the new limit (its own record, not only the cgroup), and the kernel has it.
  const [inspected] = JSON.parse((await docker.cli(['inspect', 'web'])).stdout) as Array<{ HostConfig: { Memory: number } }>;
  t.is(inspected!.HostConfig.Memory, 64 * MIB, 'docker inspect web: HostConfig.Memory');
  t.is(memoryLimitFile(cgroups, info.cgroupPath), String(64 * MIB), 'the cgroup file');
  // The page: the limit read back, the chart's limit line, and the next tick's MEM USAGE / LIMIT.
  t.is(await text(page, 'td.current[data-field="memory"]'), '64MiB');
  await until(page, 'the memory limit line', dataIs, ['#chart-memory', 'limit', String(64 * MIB)]);
  await until(page, 'the summary to show the limit', textMatches, ['#container-summary dd[data-field="MemUsage"]', ' / 64MiB$'], 10_000);
  t.regex(await text(page, '.toast-success'), /Limits of web updated/);
  await screenshot(page, 'dashboard-docker-limits');
  await page.locator('#container-name').scrollIntoViewIfNeeded();
  await screenshot(page, 'dashboard-docker-container');

  // The inspect tab: Docker's own document (plus capstan's view under "Capstan"), new limit included.
  const documentResponse = page.waitForResponse((response) => response.url().endsWith(`/api/v1/containers/${dockerId}/json`));
  await page.click('#tab-inspect');
  const { Capstan: view, ...shown } = (await (await documentResponse).json()) as Record<string, unknown>;
  const [theirs] = JSON.parse((await docker.cli(['inspect', 'web'])).stdout) as Array<Record<string, unknown>>;
  t.deepEqual(shown, theirs, 'the page got docker inspect web, unchanged');
  t.like(view as object, { owner: 'docker', cgroupPath: info.cgroupPath });
  await until(page, 'the inspect tree', textMatches, ['#inspect-json', '"/web"']);
  const tree = await page.locator('#inspect-json').innerText();
  t.regex(tree, /^Name: "\/web"$/m);
  t.regex(tree, new RegExp(`^Id: "${dockerId}"$`, 'm'));
  t.regex(tree, /^Memory: 67108864$/m, 'HostConfig (open) shows the new limit');
  t.is(await text(page, '#panel-inspect .tab-tools .muted'), 'docker inspect');
  await page.locator('#inspect-json .json > details > .json-children > .json-row', { has: page.locator(':scope > .json-key', { hasText: /^Name:\s*$/ }) }).scrollIntoViewIfNeeded();
  await screenshot(page, 'dashboard-docker-inspect');
  noErrors(t, errors);
});

serial('200 cgroups: per-tick deltas are a fraction of the table, and the page keeps up without long tasks', async (t) => {
  const tree = TestCgroupTree.forTest(t);
  const ROWS = 200;
  for (let i = 0; i < ROWS; i++) tree.child(`c${String(i).padStart(3, '0')}`);
  // Some with processes, so CPU and memory columns have values that move.
  for (let i = 0; i < 10; i++) await tree.run(`${tree.root}/c${String(i).padStart(3, '0')}`, 'sleep 600');
  await tree.busyLoop(`${tree.root}/c010`);
  const agent = await startDashboardAgent(t, ['--interval', '1s']);
  await containerId(agent, `${tree.root}/c${String(ROWS - 1).padStart(3, '0')}`);
  const browser = await launchBrowser(t);
  const { page, errors } = await openPage(browser);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  const frames: string[] = [];
  cdp.on('Network.webSocketFrameReceived', (event: { response: { payloadData: string } }) => frames.push(event.response.payloadData));

  await page.goto(agent.printedUrl);
  await page.waitForSelector('#containers-table');
  await page.evaluate(() => {
    const w = globalThis as unknown as { longTasks: number[]; PerformanceObserver: new (callback: (list: { getEntries(): Array<{ duration: number }> }) => void) => { observe(options: object): void } };
    w.longTasks = [];
    new w.PerformanceObserver((list) => {
      for (const entry of list.getEntries()) w.longTasks.push(Math.round(entry.duration));
    }).observe({ type: 'longtask' });
  });
  await page.check('#scope-all');
  await page.fill('#filter', tree.root);
  // The tree's root and its children.
  await until(page, `${ROWS + 1} rows`, textMatches, ['#row-count', `^${ROWS + 1} of`], 15_000);
  await page.click('button.sort[data-field="CPUPerc"]');
  await page.waitForTimeout(1500);
  // The steady state from here: ticks only (building the table is not a tick).
  frames.length = 0;
  await page.evaluate(() => {
    (globalThis as unknown as { longTasks: number[] }).longTasks.length = 0;
  });
  await page.waitForTimeout(6000);

  // socket.io frames: "42[event, payload]" for pushes, "43<id>[payload]" for acks (baselines).
  const overviewDeltas = frames.filter((frame) => frame.startsWith('42["overview"'));
  t.true(overviewDeltas.length >= 4, `${overviewDeltas.length} table deltas in 6 s`);
  t.is(frames.filter((frame) => frame.startsWith('42["container"')).length, 0, 'no container-page messages on the overview');
  const baseline = await page.evaluate(async () => {
    const response = await fetch('/api/v1/containers?all=1', { headers: { authorization: `Bearer ${(globalThis as unknown as { sessionStorage: { getItem(k: string): string } }).sessionStorage.getItem('capstan-token')}` } });
    return (await response.text()).length;
  });
  const meanDelta = overviewDeltas.reduce((sum, frame) => sum + frame.length, 0) / overviewDeltas.length;
  t.log(`mean table delta ${Math.round(meanDelta)} bytes; the full table over REST ${baseline} bytes`);
  t.true(meanDelta < baseline / 10, 'a tick sends a small fraction of the table');
  const longTasks = await page.evaluate(() => (globalThis as unknown as { longTasks: number[] }).longTasks);
  t.log(`long tasks: ${JSON.stringify(longTasks)}`);
  t.true(longTasks.every((ms) => ms < 250), `no long task of 250 ms or more: ${JSON.stringify(longTasks)}`);
  noErrors(t, errors);
});
