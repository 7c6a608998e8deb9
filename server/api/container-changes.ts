/**
 * A capstan container's filesystem against its image (docker's Engine API path):
 *
 *   GET /api/v1/containers/:ref/changes   [{"Path","Kind"}] (Kind 0 changed, 1 added, 2 deleted)
 *
 * Read from the container's overlay upper directory, so it works on a stopped container too. A
 * container on the host's filesystem (created without an image) has no layer of its own: 400.
 */
import express from 'express';
import { RuntimeError } from '../runtime/errors';
import type { ImageStore } from '../runtime/images';
import { computeChanges } from '../runtime/images/changes';
import { listUpperLayer } from '../runtime/images/upper-listing';
import type { RuntimeManager } from '../runtime/manager';
import { route } from './containers-runtime';

export interface ChangesRouterOptions {
  runtime: RuntimeManager;
  images: ImageStore;
}

export function containerChangesRouter(options: ChangesRouterOptions): express.Router {
  const router = express.Router();
  router.get(
    '/containers/:reference/changes',
    route(async (request, response) => {
      const reference = String(request.params['reference']);
      const layer = options.runtime.layerOf(reference);
      if (layer.imageId === '') {
        throw new RuntimeError(400, 'no_image_layer', `container ${JSON.stringify(reference).slice(1, -1).slice(0, 80)} runs on the host's filesystem (created without an image): it has no layer of its own to compare`);
      }
      const lowerDirsTopFirst = [...options.images.layerDirs(options.images.get(layer.imageId))].reverse();
      response.json(computeChanges(await listUpperLayer(layer.upperDirectory, lowerDirsTopFirst)));
    }),
  );
  return router;
}
