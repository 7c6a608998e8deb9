/**
 * Live limits over HTTP:
 *   GET   /api/v1/containers/:ref/limits   (viewer)   the limits in force, read from the cgroup
 *   PATCH /api/v1/containers/:ref/limits   (operator) change them: {"cpus": 0.5, "memory": "64m"}
 *
 * The router is a thin translation: LimitService does parsing, validation, writing and rollback,
 * and its LimitError carries the status. Error bodies keep the API's shape
 * {"error": {"code", "message"}} and add `flag`, `file`, `errno` and `rolledBack` when known.
 */
import express, { type Request, type Response } from 'express';
import type { CgroupManager } from '../cgroup/manage';
import type { Collector } from '../collector/collector';
import type { OwnedLimits } from '../containers/limits';
import type { Containers } from '../containers/registry';
import type { EventBus } from '../events';
import { LimitError, LimitService } from '../limits';
import type { CgroupPath, ContainerInfo } from '../model';
import { CapstanSource, type CapstanContainerLookup } from '../sources/capstan';
import { requireRole, type TokenStore } from './auth';
import { jsonBody } from './body';
import { HttpError } from './errors';
import { resolveContainer } from './resolve';

export interface LimitsRouterOptions {
  collector: Collector;
  tokens: TokenStore;
  /** Used to build the service when `limits` is not given. */
  cgroups: CgroupManager;
  bus: EventBus;
  /** The agent's own service (so the runtime can subscribe to applied updates); built here when absent. */
  limits?: LimitService;
  /**
   * capstan's runtime: knows a container it just started before the collector's next tick does,
   * and keeps an update of its container in spec.json (`saved` resolves once that is on disk).
   */
  runtime?: CapstanContainerLookup & {
    cgroupOfRunning(reference: string): CgroupPath | undefined;
    /** The cgroup path of any container `reference` names, running or not (`update --restart` of a stopped one). */
    cgroupOf?(reference: string): CgroupPath | undefined;
    saved?(): Promise<void>;
  };
  /** Routes each update to the container's owner (engines through their API); the service alone when absent. */
  owned?: OwnedLimits;
  /** Every owner's containers: finds one an engine started since the latest tick. */
  containers?: Containers;
  /** The description of an engine's container by owner and id (the engine sources). */
  describeOwned?: (owner: string, id: string) => ContainerInfo | undefined;
}

function sendLimitError(response: Response, error: LimitError): void {
  const body: Record<string, unknown> = { code: error.code, message: error.message };
  const { flag, file, errno, rolledBack } = error.details;
  if (flag !== undefined) body['flag'] = flag;
  if (file !== undefined) body['file'] = file;
  if (errno !== undefined) body['errno'] = errno;
  if (rolledBack !== undefined) body['rolledBack'] = rolledBack;
  response.status(error.status).json({ error: body });
}

export function limitsRouter(options: LimitsRouterOptions): express.Router {
  const service = options.limits ?? LimitService.forCgroups(options.cgroups, { bus: options.bus });
  const router = express.Router();

  const capstanSource = options.runtime ? new CapstanSource(options.runtime) : undefined;
  const containerOf = (request: Request): { info: ContainerInfo; stopped?: boolean } => {
    const snapshot = options.collector.latest();
    if (!snapshot) throw new HttpError(503, 'starting', 'the collector has not finished its first tick yet');
    const reference = String(request.params['reference']);
    try {
      return resolveContainer(snapshot.containers, reference);
    } catch (error) {
      if (!(error instanceof HttpError && error.status === 404)) throw error;
      // Started since the latest tick: its owner already knows it.
      const cgroupPath = options.runtime?.cgroupOfRunning(reference);
      const info = cgroupPath === undefined ? undefined : capstanSource?.describe(cgroupPath, {});
      if (info) return { info };
      const owned = options.containers?.find(reference);
      const engineInfo = owned && owned.owner.kind !== 'capstan' ? options.describeOwned?.(owned.owner.kind, owned.container.id) : undefined;
      if (engineInfo && engineInfo.cgroupPath !== '') return { info: engineInfo };
      // One of capstan's containers that is not running: it has no cgroup, only a restart policy to change.
      const stoppedPath = options.runtime?.cgroupOf?.(reference);
      const stopped = stoppedPath === undefined ? undefined : capstanSource?.describe(stoppedPath, {});
      if (stopped) return { info: stopped, stopped: true };
      throw error;
    }
  };

  router.get('/containers/:reference/limits', (request, response) => {
    const container = containerOf(request);
    try {
      const limits = service.read(container.info);
      response.json({ id: container.info.id, name: container.info.name, cgroupPath: container.info.cgroupPath, limits });
    } catch (error) {
      if (error instanceof LimitError) sendLimitError(response, error);
      else throw error;
    }
  });

  router.patch('/containers/:reference/limits', requireRole(options.tokens, 'operator'), jsonBody(), async (request, response, next) => {
    try {
      const container = containerOf(request);
      const principal = { principal: request.principal?.name ?? 'unknown' };
      let result;
      try {
        result = options.owned ? await options.owned.update(container.info, request.body, principal) : service.update(container.info, request.body, principal);
      } catch (error) {
        // Stopped, or stopped since the collector's latest tick listed it (its cgroup went with
        // its exit, before the next tick noticed): the same answer either way.
        const reference = String(request.params['reference']);
        const stoppedSinceTick = options.runtime?.cgroupOf?.(reference) !== undefined && options.runtime?.cgroupOfRunning(reference) === undefined;
        if ((container.stopped || stoppedSinceTick) && error instanceof LimitError && error.code === 'no_such_container') {
          throw new LimitError(
            409,
            'not_running',
            `container ${container.info.name} is not running: its limits are written to its cgroup, which exists only while it runs (start it first; --restart alone changes a stopped container)`,
          );
        }
        throw error;
      }
      // A capstan container's new limits go into its spec.json too: answer once that is on disk,
      // so an agent killed right after `capstan update` returned re-applies the new values.
      if (container.info.source === 'capstan') await options.runtime?.saved?.();
      response.json({ id: container.info.id, name: container.info.name, ...result });
    } catch (error) {
      if (error instanceof LimitError) sendLimitError(response, error);
      else next(error);
    }
  });

  return router;
}
