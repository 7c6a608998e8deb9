/**
 * The agent's HTTP surface: /metrics for Prometheus, /api/v1 for the CLI and the dashboard, and the
 * dashboard's static files. Routes only read the collector's latest snapshot; nothing here walks
 * cgroups.
 */
import * as os from 'node:os';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { CgroupManager } from '../cgroup/manage';
import type { OwnedLimits } from '../containers/limits';
import type { Containers } from '../containers/registry';
import type { OwnedContainer } from '../containers/types';
import type { Collector } from '../collector/collector';
import type { EventBus, EventLog } from '../events';
import type { LimitService } from '../limits';
import { acceptsGzip, negotiateFormat, type MetricsExporter } from '../metrics';
import type { ImageStore } from '../runtime/images';
import type { RuntimeManager } from '../runtime/manager';
import type { CollectorSnapshot, ContainerInfo, ContainerSnapshot, MachineInfo } from '../model';
import { bearerToken, requireRole, tokenMatches, type TokenStore } from './auth';
import { closeAfterUnreadBody } from './body';
import { containerFilesystemRouter } from './container-filesystem';
import { runtimeRouter } from './containers-runtime';
import { HttpError, sendError } from './errors';
import { createEventsRouter } from './events';
import { imagesRouter } from './images';
import { volumesRouter } from './volumes';
import { limitsRouter } from './limits';
import { psRouter } from './ps';
import { systemRouter } from './system';
import { liveRouter } from './live';
import { resolveContainer } from './resolve';

export interface ApiOptions {
  collector: Collector;
  /** Creates and writes cgroups on the hierarchy the collector reads. */
  cgroups: CgroupManager;
  /** Where events are published (update, oom, lifecycle). */
  bus: EventBus;
  /** The persisted event log behind GET /api/v1/events?since=; without it only live events stream. */
  eventLog?: EventLog;
  /** The agent's state directory (tokens, event log, containers). */
  stateDir: string;
  exporter: MetricsExporter;
  machine: MachineInfo;
  tokens: TokenStore;
  /** When set, /metrics requires "Authorization: Bearer <metricsToken>". */
  metricsToken?: string;
  /** Directory of the built dashboard. */
  webRoot: string;
  version: string;
  /** Live limits (PATCH /containers/:ref/limits); built from `cgroups` and `bus` when absent. Pass one to subscribe to applied updates. */
  limits?: LimitService;
  /** capstan's own containers (run, stop, logs, inspect, ...); the routes are absent without it. */
  runtime?: RuntimeManager;
  /** The image store behind /api/v1/images (list, import, rm); the routes are absent without it. */
  images?: ImageStore;
  /** How pulls reach registries (the agent's --insecure-registry, --registry-timeout). */
  registry?: { insecureRegistries: readonly string[]; stallTimeoutMs: number };
  /** Every owner's containers (capstan's runtime, Docker, Podman); capstan's alone when absent. */
  containers?: Containers;
  /** Limit updates routed to each container's owner; plain cgroup writes when absent. */
  ownedLimits?: OwnedLimits;
  /** An engine container's description by owner and id. */
  describeOwned?: (owner: string, id: string) => ContainerInfo | undefined;
}

export function createApp(options: ApiOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(closeAfterUnreadBody);
  app.use((_request, response, next) => {
    response.set({
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
      // Only the dashboard's own files: no inline script or style, no other origin, no framing.
      'Content-Security-Policy':
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "frame-ancestors 'none'; object-src 'none'; base-uri 'none'; form-action 'self'",
    });
    next();
  });

  app.get('/healthz', (_request, response) => {
    const snapshot = options.collector.latest();
    response.json({ status: snapshot ? 'ok' : 'starting', lastTickMs: snapshot?.timestampMs ?? null });
  });

  app.get('/metrics', async (request, response, next) => {
    try {
      if (options.metricsToken !== undefined && !tokenMatches(options.metricsToken, bearerToken(request.get('authorization')))) {
        response.set('WWW-Authenticate', 'Bearer realm="capstan-metrics"');
        sendError(response, 401, 'unauthorized', '/metrics requires the bearer token given with --metrics-token');
        return;
      }
      // Prometheus asks for OpenMetrics and gzip; curl and older scrapers get plain text.
      const body = await options.exporter.scrape({
        format: negotiateFormat(request.get('accept')),
        gzip: acceptsGzip(request.get('accept-encoding')),
      });
      response.status(200).set({
        'Content-Type': body.contentType,
        'Content-Length': String(body.length),
        // The answer depends on both headers: a cache must not hand a gzipped OpenMetrics body to curl.
        Vary: 'Accept, Accept-Encoding',
        'Cache-Control': 'no-store',
      });
      if (body.contentEncoding !== undefined) response.set('Content-Encoding', body.contentEncoding);
      if (request.method === 'HEAD') {
        response.end();
        return;
      }
      for (let i = 0; i < body.chunks.length - 1; i++) response.write(body.chunks[i]);
      response.end(body.chunks[body.chunks.length - 1]);
    } catch (error) {
      next(error);
    }
  });

  const api = express.Router();
  // Authentication comes first: nothing reads, parses or routes a request without a valid token.
  // Bodies are read by the routes that take one (body.ts: jsonBody), after their role check.
  api.use(requireRole(options.tokens, 'viewer'));

  const snapshotOrFail = (): CollectorSnapshot => {
    const snapshot = options.collector.latest();
    if (!snapshot) throw new HttpError(503, 'starting', 'the collector has not finished its first tick yet');
    return snapshot;
  };

  api.get('/containers', (request, response) => {
    const snapshot = snapshotOrFail();
    const all = request.query['all'] === '1' || request.query['all'] === 'true';
    const containers = snapshot.containers
      .filter((c) => all || c.info.isContainer)
      .map((c) => ({ info: c.info, stats: c.stats }));
    response.json({ timestampMs: snapshot.timestampMs, containers });
  });

  // docker's listing path, before /containers/:reference would take "json" for a container.
  api.use(psRouter({ collector: options.collector, ...(options.runtime && { runtime: options.runtime }), ...(options.images && { images: options.images }), ...(options.containers && { containers: options.containers }) }));

  api.get('/containers/:reference', (request, response) => {
    const container = resolveContainer(snapshotOrFail().containers, String(request.params['reference']));
    response.json({ info: container.info, spec: specOf(container), stats: container.stats, sample: container.sample });
  });

  api.get('/containers/:reference/history', (request, response) => {
    const container = resolveContainer(snapshotOrFail().containers, String(request.params['reference']));
    const sinceMs = parseSince(request.query['since']);
    const history = options.collector.history(container.info.cgroupPath, sinceMs);
    if (!history) throw new HttpError(404, 'no_such_container', `No such container: ${request.params['reference']}`);
    response.json({ id: container.info.id, ...history });
  });

  api.get('/machine', (_request, response) => {
    response.json({
      ...options.machine,
      cgroupMode: options.collector.layout.mode,
      cgroupControllersOn: options.collector.layout.controllersOn,
      uptimeSeconds: os.uptime(),
      agentVersion: options.version,
    });
  });

  api.use(systemRouter({ collector: options.collector, machine: options.machine, stateDir: options.stateDir, version: options.version, ...(options.runtime && { runtime: options.runtime }), ...(options.images && { images: options.images }) }));
  api.use(limitsRouter({ ...options, ...(options.ownedLimits && { owned: options.ownedLimits, limits: options.ownedLimits.service }) }));
  api.use(liveRouter({ collector: options.collector, cgroups: options.cgroups }));
  // capstan's view of an engine's container, next to the engine's own inspect document.
  const cgroupView = (container: OwnedContainer): Record<string, unknown> => {
    const snapshot = options.collector.latest()?.containers.find((c) => c.info.id === container.id);
    const view: Record<string, unknown> = { owner: container.owner, cgroupPath: container.cgroupPath ?? null };
    if (snapshot) {
      view['stats'] = snapshot.stats;
      try {
        view['limits'] = options.ownedLimits?.service.read(snapshot.info);
      } catch {
        // The cgroup went away between the tick and now: no limits to show.
      }
    }
    return view;
  };
  if (options.runtime) {
    api.use(runtimeRouter({ runtime: options.runtime, tokens: options.tokens, ...(options.containers && { containers: options.containers }), ...(options.images && { images: options.images }), cgroupView }));
  }
  if (options.runtime) api.use('/volumes', volumesRouter({ volumes: options.runtime.volumes, tokens: options.tokens }));
  if (options.runtime && options.images) api.use(containerFilesystemRouter({ runtime: options.runtime, images: options.images, tokens: options.tokens }));
  if (options.images) api.use('/images', imagesRouter({ store: options.images, tokens: options.tokens, ...(options.registry && { registry: options.registry }) }));

  api.use('/events', createEventsRouter({ bus: options.bus, ...(options.eventLog && { log: options.eventLog }) }));

  api.use((request, _response) => {
    throw new HttpError(404, 'not_found', `no such API route: ${request.method} ${request.originalUrl}`);
  });

  app.use('/api/v1', api);
  app.use('/api', (request, response) => sendError(response, 404, 'not_found', `no such API route: ${request.method} ${request.originalUrl}`));
  app.use(express.static(options.webRoot, { index: 'index.html', fallthrough: true }));

  app.use((error: unknown, _request: Request, response: Response, next: NextFunction) => {
    if (response.headersSent) {
      next(error);
      return;
    }
    if (error instanceof HttpError) {
      sendError(response, error.status, error.code, error.message);
      return;
    }
    const status = (error as { status?: number; type?: string }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      // Errors with a client status from express itself (a malformed URL encoding, say).
      sendError(response, status, (error as { type?: string }).type ?? 'bad_request', (error as Error).message);
      return;
    }
    sendError(response, 500, 'internal', (error as Error).message ?? 'internal error');
  });
  return app;
}

/** Limits in force, from the latest sample, in docker inspect's units where they apply. */
function specOf(container: ContainerSnapshot): Record<string, unknown> {
  const { cpu, memory, pids } = container.sample;
  return {
    cpu: {
      quotaMicroseconds: cpu.quotaMicroseconds ?? null,
      periodMicroseconds: cpu.periodMicroseconds ?? null,
      shares: cpu.shares ?? null,
      limitCpus: container.stats.cpuLimitCpus ?? null,
    },
    memory: {
      limitBytes: memory.limitBytes ?? null,
      reservationBytes: memory.reservationBytes ?? null,
      swapLimitBytes: memory.swapLimitBytes ?? null,
    },
    pids: { limit: pids.limit ?? null },
  };
}

/** `since` as epoch milliseconds, an RFC 3339 time, or a duration back from now ("90s", "5m", "1h"). */
export function parseSince(value: unknown, nowMs = Date.now()): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new HttpError(400, 'invalid_since', 'since must be given once');
  if (/^\d+$/.test(value)) return Number(value);
  const duration = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value);
  if (duration) {
    const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[duration[2] as 'ms' | 's' | 'm' | 'h'];
    return nowMs - Number(duration[1]) * unitMs;
  }
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed)) {
    throw new HttpError(400, 'invalid_since', `since must be epoch milliseconds, an RFC 3339 time or a duration like 5m; got "${value}"`);
  }
  return parsed;
}
