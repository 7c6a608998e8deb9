/**
 * /api/v1/volumes: docker's volume routes over capstan's local driver. Reading needs the viewer
 * role (the /api/v1 router checks it), creating and removing the operator role.
 *
 *   GET    /volumes[?filter=KEY=VALUE...]   {"Volumes": VolumeRecord[], "Warnings": []}
 *   POST   /volumes                        body {"Name"?, "Driver"?, "Labels"?} → VolumeRecord (201)
 *   GET    /volumes/:name                  VolumeRecord
 *   DELETE /volumes/:name                  204; 409 while a container uses it
 *   POST   /volumes/prune[?filter=label=..] {"VolumesDeleted": [...], "SpaceReclaimed": bytes}
 */
import express, { type Request } from 'express';
import { badRequest } from '../runtime/errors';
import type { VolumeService } from '../runtime/volumes/service';
import { requireRole, type TokenStore } from './auth';
import { jsonBody } from './body';
import { route } from './containers-runtime';

export interface VolumesRouterOptions {
  volumes: VolumeService;
  tokens: TokenStore;
}

function filters(request: Request): string[] {
  const value = request.query['filter'];
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  if (!list.every((item) => typeof item === 'string')) throw badRequest('invalid_filter', 'filter must be KEY=VALUE');
  return list as string[];
}

function labelsOf(value: unknown): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value) || !Object.values(value).every((text) => typeof text === 'string')) {
    throw badRequest('invalid_body', 'Labels must be an object of strings');
  }
  return value as Record<string, string>;
}

export function volumesRouter(options: VolumesRouterOptions): express.Router {
  const { volumes } = options;
  const router = express.Router();
  const operator = requireRole(options.tokens, 'operator');

  router.get(
    '/',
    route((request, response) => {
      response.json({ Volumes: volumes.list(filters(request)), Warnings: [] });
    }),
  );

  router.post(
    '/prune',
    operator,
    route(async (request, response) => {
      response.json(await volumes.prune(filters(request)));
    }),
  );

  router.post(
    '/',
    operator,
    jsonBody(),
    route((request, response) => {
      const body = (request.body ?? {}) as Record<string, unknown>;
      if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('invalid_body', 'the request body must be a JSON object');
      const name = body['Name'];
      const driver = body['Driver'];
      if ((name !== undefined && typeof name !== 'string') || (driver !== undefined && typeof driver !== 'string')) {
        throw badRequest('invalid_body', 'Name and Driver must be strings');
      }
      const labels = labelsOf(body['Labels']);
      response.status(201).json(volumes.create(name, { ...(labels ? { labels } : {}), ...(driver !== undefined ? { driver } : {}) }));
    }),
  );

  router.get(
    '/:name',
    route((request, response) => {
      response.json(volumes.inspect(String(request.params['name'])));
    }),
  );

  router.delete(
    '/:name',
    operator,
    route(async (request, response) => {
      await volumes.remove(String(request.params['name']));
      response.status(204).end();
    }),
  );

  return router;
}
