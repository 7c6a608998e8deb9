/**
 * `capstan push`: an image of the store to a registry, as docker pushes it. The image is found by
 * the name it is pushed under (`127.0.0.1:5000/team/app:v1`, given it with `capstan tag`). Each
 * layer's original tar is rebuilt from the store (tar-split.ts: its sha256 is the diff ID, or the
 * rebuild fails), gzip-compressed into a private file while its digest is computed, and uploaded
 * unless the registry has that blob already; then the config as imported (its digest is the image
 * ID) and a Docker v2 schema 2 manifest under the tag. Nothing in the store changes.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { ImageStore } from '../runtime/images/store';
import { RegistryClient, type RegistryClientOptions } from './client';
import { RegistryError } from './errors';
import { inParallel, shortLayerId } from './layer-transfers';
import { parseRemoteReference } from './reference';

/** One of docker's push progress messages: `{"status":"Pushed","id":"abc123def456"}`. */
export interface PushEvent {
  status: string;
  /** Short (12 hex) layer ID: the first 12 hex of its diff ID, as docker shows it; absent for lines about the image. */
  id?: string;
  /** Units: bytes. */
  current?: number;
  /** Units: bytes. */
  total?: number;
}

export interface PushOptions extends RegistryClientOptions {
  onEvent?: (event: PushEvent) => void;
}

export interface PushResult {
  tag: string;
  /** The manifest's digest (docker's "digest: sha256:…"). */
  digest: string;
  /** The manifest's length. Units: bytes. */
  manifestBytes: number;
}

const SCHEMA2_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const SCHEMA2_CONFIG = 'application/vnd.docker.container.image.v1+json';
const SCHEMA2_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
/** Layers compressed and uploaded at once: docker's default max-concurrent-uploads. */
const PARALLEL_UPLOADS = 5;

interface CompressedLayer {
  file: string;
  /** Of the gzip blob. */
  digest: string;
  /** Units: bytes. */
  size: number;
}


/** The layer's rebuilt tar, gzip-compressed into `file`, hashed as it is written. */
async function compressLayer(store: ImageStore, diffId: string, file: string): Promise<CompressedLayer> {
  const hash = createHash('sha256');
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  await pipeline(store.layerTar(diffId).stream, createGzip(), count, fs.createWriteStream(file, { mode: 0o600 }));
  return { file, digest: `sha256:${hash.digest('hex')}`, size };
}


export async function pushImage(store: ImageStore, text: string, options: PushOptions = {}): Promise<PushResult> {
  const reference = parseRemoteReference(text);
  if (reference.digest !== undefined || reference.tag === undefined || reference.localName === undefined) {
    throw new RegistryError(400, 'invalid_reference', `cannot push a digest reference: ${text}`);
  }
  const image = store.resolve(reference.localName);
  if (!image) {
    throw new RegistryError(404, 'no_such_image', `An image does not exist locally with the tag: ${reference.localName.slice(0, reference.localName.lastIndexOf(':'))}`);
  }
  const configJson = store.savedConfigJson(image);
  const emit = options.onEvent ?? (() => undefined);
  const client = new RegistryClient(reference, options);
  emit({ status: `The push refers to repository [${reference.registry}/${reference.repository}]` });
  // docker lists the layers top first.
  const diffIds = [...image.layers].reverse();
  for (const diffId of diffIds) emit({ status: 'Preparing', id: shortLayerId(diffId) });

  const scratch = store.newScratchDirectory();
  try {
    const blobs: CompressedLayer[] = new Array<CompressedLayer>(diffIds.length);
    await inParallel(diffIds, PARALLEL_UPLOADS, async (diffId, index) => {
      const id = shortLayerId(diffId);
      const layer = await compressLayer(store, diffId, path.join(scratch, `layer-${index}.tar.gz`));
      blobs[index] = layer;
      if (await client.hasBlob(layer.digest)) {
        emit({ status: 'Layer already exists', id });
        return;
      }
      let sent = 0;
      await client.uploadBlob(layer.file, layer.digest, layer.size, (bytes) => {
        sent += bytes;
        emit({ status: 'Pushing', id, current: sent, total: layer.size });
      });
      emit({ status: 'Pushed', id });
    });
    if (!(await client.hasBlob(image.id))) {
      const configFile = path.join(scratch, 'config.json');
      fs.writeFileSync(configFile, configJson, { mode: 0o600 });
      await client.uploadBlob(configFile, image.id, Buffer.byteLength(configJson));
    }
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: SCHEMA2_MANIFEST,
      config: { mediaType: SCHEMA2_CONFIG, size: Buffer.byteLength(configJson), digest: image.id },
      // The manifest lists layers bottom first, as the config's diff IDs.
      layers: [...blobs].reverse().map((blob) => ({ mediaType: SCHEMA2_LAYER_GZIP, size: blob.size, digest: blob.digest })),
    });
    const digest = await client.putManifest(reference.tag, SCHEMA2_MANIFEST, manifest);
    const manifestBytes = Buffer.byteLength(manifest);
    emit({ status: `${reference.tag}: digest: ${digest} size: ${manifestBytes}` });
    return { tag: reference.tag, digest, manifestBytes };
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

