/**
 * /api/v1/images: list, inspect, import (upload) and remove images. Reading needs the viewer role
 * (the /api/v1 router checks it); importing and removing need the operator role.
 *
 *   GET    /images                  {"images": ImageRecord[]}
 *   GET    /images/:reference       ImageRecord (a name with "/" is sent URL-encoded)
 *   POST   /images?name=NAME[:TAG]  body: the archive (tar, tar.gz, docker save, OCI layout tar),
 *                                   Content-Type application/x-tar, application/gzip or
 *                                   application/octet-stream. Answers {"images": ImageRecord[]};
 *                                   with "Accept: application/x-ndjson" it streams progress lines
 *                                   {"progress": ImportProgress} first and ends with
 *                                   {"images": [...]} or {"error": {"code","message"}} (status 200
 *                                   once streaming has begun, as `docker load` does).
 *   DELETE /images/:reference?force=1   {"untagged": [...], "deleted": [...]}
 *   GET    /images/:reference/history      docker's history rows (Engine API shape), newest first
 *   POST   /images/:reference/tag?repo=R[&tag=T]   names the image R:T (T default "latest"), as the
 *                                   Engine API's tag; 201 {"image": ImageRecord}
 */
import express, { type Request, type Response } from 'express';
import type { ImageStore, ImportProgress } from '../runtime/images';
import { RuntimeError } from '../runtime/errors';
import { inspectImage } from '../runtime/images/inspect';
import { requireRole, type TokenStore } from './auth';
import { sendError } from './errors';

export interface ImagesRouterOptions {
  store: ImageStore;
  tokens: TokenStore;
}

/** How often streamed progress is written, at most. Units: milliseconds. */
const PROGRESS_INTERVAL_MS = 200;

const ARCHIVE_TYPES = ['application/x-tar', 'application/tar', 'application/gzip', 'application/x-gzip', 'application/octet-stream'];

function fail(response: Response, error: unknown): void {
  if (error instanceof RuntimeError) {
    sendError(response, error.status, error.code, error.message);
    return;
  }
  sendError(response, 500, 'internal', (error as Error).message ?? 'internal error');
}

function queryString(request: Request, key: string): string | undefined {
  const value = request.query[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new RuntimeError(400, `invalid_${key}`, `${key} must be given once`);
  return value;
}

function isTrue(value: string | undefined): boolean {
  return value === '1' || value === 'true';
}

export function imagesRouter(options: ImagesRouterOptions): express.Router {
  const { store } = options;
  const router = express.Router();
  const operator = requireRole(options.tokens, 'operator');

  router.get('/', (_request, response) => {
    response.json({ images: store.list() });
  });

  // docker's image inspect document (GET /images/{name}/json in the Engine API).
  router.get('/:reference/json', (request, response) => {
    try {
      const image = store.get(String(request.params['reference']));
      response.json(inspectImage(image, { layerDirs: store.layerDirs(image) }));
    } catch (error) {
      fail(response, error);
    }
  });

  router.get('/:reference/history', (request, response) => {
    try {
      response.json(store.history(String(request.params['reference'])));
    } catch (error) {
      fail(response, error);
    }
  });

  router.post('/:reference/tag', operator, async (request, response) => {
    try {
      const repo = queryString(request, 'repo');
      const tag = queryString(request, 'tag');
      if (repo === undefined || repo === '') throw new RuntimeError(400, 'invalid_repo', 'repo is required: the name to give the image');
      const image = await store.tag(String(request.params['reference']), tag === undefined || tag === '' ? repo : `${repo}:${tag}`);
      response.status(201).json({ image });
    } catch (error) {
      fail(response, error);
    }
  });

  router.get('/:reference', (request, response) => {
    try {
      response.json(store.get(String(request.params['reference'])));
    } catch (error) {
      fail(response, error);
    }
  });

  router.post('/', operator, async (request: Request, response: Response) => {
    let name: string | undefined;
    try {
      name = queryString(request, 'name');
      const type = (request.get('content-type') ?? 'application/octet-stream').split(';')[0]!.trim().toLowerCase();
      if (!ARCHIVE_TYPES.includes(type)) {
        throw new RuntimeError(415, 'unsupported_media_type', `send the archive itself as the body (Content-Type application/x-tar or application/gzip), not ${type}`);
      }
    } catch (error) {
      fail(response, error);
      return;
    }
    const lengthHeader = request.get('content-length');
    const totalBytes = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
    const streaming = (request.get('accept') ?? '').includes('application/x-ndjson');
    let lastWrite = 0;
    let lastPhase = '';
    const onProgress = (progress: ImportProgress): void => {
      if (!streaming) return;
      const now = Date.now();
      if (progress.phase === lastPhase && now - lastWrite < PROGRESS_INTERVAL_MS && progress.currentBytes !== progress.totalBytes) return;
      lastWrite = now;
      lastPhase = progress.phase;
      if (!response.headersSent) response.status(200).type('application/x-ndjson');
      response.write(JSON.stringify({ progress }) + '\n');
    };
    try {
      const images = await store.importStream(request, {
        ...(name !== undefined ? { name } : {}),
        ...(totalBytes !== undefined ? { totalBytes } : {}),
        onProgress,
      });
      if (streaming) {
        if (!response.headersSent) response.status(200).type('application/x-ndjson');
        response.end(JSON.stringify({ images }) + '\n');
      } else {
        response.json({ images });
      }
    } catch (error) {
      // Drop the rest of the upload; body.ts closes the connection once a bounded amount has come.
      if (request.readableEnded === false) request.resume();
      if (response.headersSent) {
        const status = error instanceof RuntimeError ? error.code : 'internal';
        response.end(JSON.stringify({ error: { code: status, message: (error as Error).message } }) + '\n');
        return;
      }
      if (!(error instanceof RuntimeError) && (error as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') {
        fail(response, new RuntimeError(400, 'upload_aborted', 'the upload ended before the archive was complete'));
        return;
      }
      fail(response, error);
    }
  });

  router.delete('/:reference', operator, async (request, response) => {
    try {
      const force = isTrue(queryString(request, 'force'));
      response.json(await store.remove(String(request.params['reference']), { force }));
    } catch (error) {
      fail(response, error);
    }
  });

  return router;
}
