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
 *   GET    /images/get?names=A&names=B   a `docker save` archive of the images (the Engine API's
 *                                   route); operator, because it hands out every file of them
 *   POST   /images/prune[?filters={"dangling":["false"]}]   {ImagesDeleted: [{Untagged}|{Deleted}],
 *                                   SpaceReclaimed}; dangling=false prunes every image no
 *                                   container uses (`image prune -a`); operator
 *   POST   /images/pull?reference=NAME[:TAG|@DIGEST][&platform=OS/ARCH]   pulls from the registry
 *                                   the name gives; credentials in X-Registry-Auth (base64 of
 *                                   {"username","password"}, docker's header). Answers NDJSON:
 *                                   {"pull": PullEvent} lines, then {"images": [ImageRecord],
 *                                   "digest"} or {"error": {"code","message"}}.
 *   POST   /images/push?reference=NAME[:TAG]   pushes the image of that name to the registry the
 *                                   name gives (credentials as for pull). Answers NDJSON:
 *                                   {"push": PushEvent} lines, then {"pushed": {tag, digest,
 *                                   manifestBytes}} or {"error": {"code","message"}}.
 *   POST   /images/login           {"username","password","serveraddress"}: checks the credentials
 *                                   against the registry (GET /v2/ with its auth); {"Status":
 *                                   "Login Succeeded"} or 401. The agent keeps nothing.
 */
import express, { type Request, type Response } from 'express';
import type { ImageStore, ImportProgress } from '../runtime/images';
import { RuntimeError } from '../runtime/errors';
import { inspectImage } from '../runtime/images/inspect';
import { saveImages } from '../runtime/images/save';
import { pullImage, type PullEvent } from '../registry/pull';
import { pushImage, type PushEvent } from '../registry/push';
import { parsePlatform } from '../registry/manifest';
import { parseRemoteReference } from '../registry/reference';
import { RegistryClient, type RegistryCredentials } from '../registry/client';
import { requireRole, type TokenStore } from './auth';
import { jsonBody } from './body';
import { sendError } from './errors';

export interface ImagesRouterOptions {
  store: ImageStore;
  tokens: TokenStore;
  /** Registries a pull may reach over plain HTTP besides loopback ones, and the stall time-out (the agent's --insecure-registry, --registry-timeout). */
  registry?: { insecureRegistries: readonly string[]; stallTimeoutMs: number };
}

/** docker's X-Registry-Auth: base64 (standard or URL-safe) of {"username","password"}; undefined when absent or empty. */
export function parseRegistryAuth(header: string | undefined): RegistryCredentials | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(header.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
  } catch {
    throw new RuntimeError(400, 'invalid_registry_auth', 'X-Registry-Auth must be base64 of a JSON object {"username","password"}');
  }
  const { username, password } = (json ?? {}) as { username?: unknown; password?: unknown };
  if (username === undefined && password === undefined) return undefined;
  if (typeof username !== 'string' || typeof password !== 'string') {
    throw new RuntimeError(400, 'invalid_registry_auth', 'X-Registry-Auth: username and password must be strings');
  }
  return { username, password };
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

/** Progress statuses that carry byte counts: thinned out in the stream (every status change is sent). */
const BYTE_COUNT_STATUSES = new Set(['Downloading', 'Extracting', 'Pushing']);

/**
 * A pull's or push's answer once its request is accepted: 200 NDJSON, one {"pull"|"push": event}
 * line per progress event, then the work's result object, or {"error": {code, message}}.
 */
async function streamRegistryWork(
  request: Request,
  response: Response,
  kind: 'pull' | 'push',
  work: (onEvent: (event: PullEvent | PushEvent) => void) => Promise<Record<string, unknown>>,
): Promise<void> {
  request.resume();
  response.status(200).type('application/x-ndjson');
  let lastByteCountWrite = 0;
  const onEvent = (event: PullEvent | PushEvent): void => {
    if (BYTE_COUNT_STATUSES.has(event.status)) {
      const now = Date.now();
      if (now - lastByteCountWrite < PROGRESS_INTERVAL_MS / 2 && event.current !== event.total) return;
      lastByteCountWrite = now;
    }
    response.write(JSON.stringify({ [kind]: event }) + '\n');
  };
  try {
    response.end(JSON.stringify(await work(onEvent)) + '\n');
  } catch (error) {
    const code = error instanceof RuntimeError ? error.code : 'internal';
    response.end(JSON.stringify({ error: { code, message: (error as Error).message } }) + '\n');
  }
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

  // Before /:reference, as in the Engine API: an image named "get" is reached by its ID or /get/json.
  router.get('/get', operator, (request, response) => {
    let archive: ReturnType<typeof saveImages>;
    try {
      const raw = request.query['names'];
      const names = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).map(String).filter((name) => name !== '');
      if (names.length === 0) throw new RuntimeError(400, 'invalid_names', 'name at least one image to save (names=NAME, repeated)');
      archive = saveImages(store, names);
    } catch (error) {
      fail(response, error);
      return;
    }
    response.status(200).type('application/x-tar').setHeader('content-length', String(archive.sizeBytes));
    archive.stream.on('error', (error) => {
      // Headers are gone: cutting the body short (against its Content-Length) is how the client learns.
      response.destroy(error);
    });
    archive.stream.pipe(response);
    response.on('close', () => archive.stream.destroy());
  });

  router.get('/:reference/history', (request, response) => {
    try {
      response.json(store.history(String(request.params['reference'])));
    } catch (error) {
      fail(response, error);
    }
  });

  router.post('/prune', operator, async (request, response) => {
    try {
      const filters = queryString(request, 'filters');
      let all = false;
      if (filters !== undefined && filters !== '') {
        let parsed: unknown;
        try {
          parsed = JSON.parse(filters);
        } catch {
          throw new RuntimeError(400, 'invalid_filter', 'filters must be a JSON object such as {"dangling":["false"]}');
        }
        const entries = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? Object.entries(parsed as Record<string, unknown>) : undefined;
        if (!entries) throw new RuntimeError(400, 'invalid_filter', 'filters must be a JSON object such as {"dangling":["false"]}');
        for (const [key, value] of entries) {
          const values = Array.isArray(value) ? value.map(String) : typeof value === 'object' && value !== null ? Object.keys(value) : [String(value)];
          if (key !== 'dangling') throw new RuntimeError(400, 'invalid_filter', `Invalid filter '${key}'`);
          if (values.some((v) => !['true', 'false', '1', '0'].includes(v))) throw new RuntimeError(400, 'invalid_filter', `Invalid filter 'dangling=[${values.join(' ')}]'`);
          all = values.includes('false') || values.includes('0');
        }
      }
      const result = await store.prune({ all });
      response.json({
        ImagesDeleted: result.removed.flatMap((image) => [...image.repoTags.map((tag) => ({ Untagged: tag })), { Deleted: image.id }]),
        SpaceReclaimed: result.spaceReclaimedBytes,
      });
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
    let message: string | undefined;
    let changes: string[] = [];
    try {
      name = queryString(request, 'name');
      // docker import's --message and --change (repeated), for a plain root filesystem.
      message = queryString(request, 'message');
      const given = request.query['changes'];
      changes = given === undefined ? [] : (Array.isArray(given) ? given : [given]).map(String);
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
        ...(message !== undefined ? { message } : {}),
        ...(changes.length > 0 ? { changes } : {}),
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

  router.post('/pull', operator, async (request: Request, response: Response) => {
    let reference: string | undefined;
    let platform: string | undefined;
    let credentials: RegistryCredentials | undefined;
    try {
      reference = queryString(request, 'reference');
      platform = queryString(request, 'platform');
      if (reference === undefined || reference === '') throw new RuntimeError(400, 'invalid_reference', 'reference is required: NAME[:TAG|@DIGEST]');
      // Refused before the answer streams, with their status: a bad name or platform is a 400.
      parseRemoteReference(reference);
      if (platform !== undefined) parsePlatform(platform);
      credentials = parseRegistryAuth(request.get('x-registry-auth'));
    } catch (error) {
      fail(response, error);
      return;
    }
    const pullReference = reference;
    await streamRegistryWork(request, response, 'pull', async (onEvent) => {
      const result = await pullImage(store, pullReference, {
        ...(platform !== undefined ? { platform } : {}),
        ...(credentials ? { credentials } : {}),
        ...(options.registry ?? {}),
        onEvent,
      });
      return { images: [result.image], digest: result.digest, downloaded: result.downloaded };
    });
  });

  router.post('/push', operator, async (request: Request, response: Response) => {
    let reference: string | undefined;
    let credentials: RegistryCredentials | undefined;
    try {
      reference = queryString(request, 'reference');
      if (reference === undefined || reference === '') throw new RuntimeError(400, 'invalid_reference', 'reference is required: NAME[:TAG]');
      // Refused before the answer streams, with their status: a bad name or an unknown image.
      const parsed = parseRemoteReference(reference);
      if (parsed.digest !== undefined) throw new RuntimeError(400, 'invalid_reference', `cannot push a digest reference: ${reference}`);
      credentials = parseRegistryAuth(request.get('x-registry-auth'));
    } catch (error) {
      fail(response, error);
      return;
    }
    const pushReference = reference;
    await streamRegistryWork(request, response, 'push', async (onEvent) => ({
      pushed: await pushImage(store, pushReference, { ...(credentials ? { credentials } : {}), ...(options.registry ?? {}), onEvent }),
    }));
  });

  router.post('/login', operator, jsonBody(), async (request: Request, response: Response) => {
    try {
      const body = (request.body ?? {}) as { username?: unknown; password?: unknown; serveraddress?: unknown };
      const { username, password, serveraddress } = body;
      if (typeof username !== 'string' || typeof password !== 'string' || typeof serveraddress !== 'string' || serveraddress === '') {
        throw new RuntimeError(400, 'invalid_login', 'send {"username","password","serveraddress"} as strings');
      }
      if (!/^[A-Za-z0-9.-]+(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$/.test(serveraddress)) {
        throw new RuntimeError(400, 'invalid_login', `serveraddress must be HOST[:PORT], not ${JSON.stringify(serveraddress).slice(0, 80)}`);
      }
      const client = new RegistryClient(
        { registry: serveraddress, repository: '' },
        { credentials: { username, password }, ...(options.registry ?? {}) },
      );
      await client.checkLogin();
      response.json({ Status: 'Login Succeeded' });
    } catch (error) {
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
