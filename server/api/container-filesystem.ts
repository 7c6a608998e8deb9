/**
 * A capstan container's filesystem as images see it (docker's Engine API paths):
 *
 *   GET  /api/v1/containers/:ref/changes   [{"Path","Kind"}] (Kind 0 changed, 1 added, 2 deleted)
 *   POST /api/v1/commit?container=&repo=&tag=&comment=&author=&changes=&pause=   (operator)
 *        → 201 {"Id": "sha256:..."}; `changes` may be repeated (one Dockerfile instruction each)
 *   GET  /api/v1/containers/:ref/export   (operator: it reads every file) the merged root filesystem, a tar
 *
 * Read from the container's overlay upper directory, so both work on a stopped container too. A
 * container on the host's filesystem (created without an image) has no layer of its own: 400.
 */
import express, { type Request } from 'express';
import { commitContainer, hostFilesystem } from '../runtime/commit';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RuntimeError } from '../runtime/errors';
import type { ImageStore } from '../runtime/images';
import { computeChanges } from '../runtime/images/changes';
import { exportRootfs } from '../runtime/images/merged';
import { listUpperLayer } from '../runtime/images/upper-listing';
import type { RuntimeManager } from '../runtime/manager';
import { requireRole, type TokenStore } from './auth';
import { route } from './containers-runtime';

export interface FilesystemRouterOptions {
  runtime: RuntimeManager;
  images: ImageStore;
  tokens: TokenStore;
}

/** A query parameter given at most once, as a string ('' when absent). */
function single(request: Request, name: string): string {
  const value = request.query[name];
  if (value === undefined) return '';
  if (typeof value !== 'string') throw new RuntimeError(400, 'invalid_query', `${name} must be given once`);
  return value;
}

/** A query parameter that may be repeated. */
function repeated(request: Request, name: string): string[] {
  const value = request.query[name];
  if (value === undefined) return [];
  const values = Array.isArray(value) ? value : [value];
  if (!values.every((item) => typeof item === 'string')) throw new RuntimeError(400, 'invalid_query', `${name} must be text`);
  return values as string[];
}

export function containerFilesystemRouter(options: FilesystemRouterOptions): express.Router {
  const router = express.Router();
  const operator = requireRole(options.tokens, 'operator');

  router.post(
    '/commit',
    operator,
    route(async (request, response) => {
      const container = single(request, 'container');
      if (container === '') throw new RuntimeError(400, 'invalid_query', 'container is required');
      const pause = single(request, 'pause');
      const image = await commitContainer(options.runtime, options.images, {
        container,
        repo: single(request, 'repo'),
        tag: single(request, 'tag'),
        author: single(request, 'author'),
        comment: single(request, 'comment'),
        changes: repeated(request, 'changes'),
        // docker's default is to pause; only an explicit false/0 does not.
        pause: !(pause === '0' || pause === 'false'),
      });
      response.status(201).json({ Id: image.id });
    }),
  );

  router.get(
    '/containers/:reference/changes',
    route(async (request, response) => {
      const reference = String(request.params['reference']);
      const layer = options.runtime.layerOf(reference);
      if (layer.imageId === '') throw hostFilesystem(reference, 'diff');
      const lowerDirsTopFirst = [...options.images.layerDirs(options.images.get(layer.imageId))].reverse();
      response.json(computeChanges(await listUpperLayer(layer.upperDirectory, lowerDirsTopFirst)));
    }),
  );

  router.get(
    '/containers/:reference/export',
    operator,
    route(async (request, response) => {
      const reference = String(request.params['reference']);
      const layer = options.runtime.layerOf(reference);
      if (layer.imageId === '') throw hostFilesystem(reference, 'export');
      const lowerDirsTopFirst = [...options.images.layerDirs(options.images.get(layer.imageId))].reverse();
      const tar = Readable.from(exportRootfs([layer.upperDirectory, ...lowerDirsTopFirst]));
      // The first chunk (or a failure before it) comes before the headers, so a refusal is still an error answer.
      const iterator = tar[Symbol.asyncIterator]();
      const first = await iterator.next();
      response.status(200).type('application/x-tar');
      if (!first.done) response.write(first.value as Buffer);
      await pipeline(Readable.from({ [Symbol.asyncIterator]: () => iterator }), response);
    }),
  );
  return router;
}
