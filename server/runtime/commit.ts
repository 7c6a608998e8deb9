/**
 * `commit`: a container's writable layer as a new image, as docker commits one:
 *
 * - the new image's layers are the container's image's plus one made of the overlay upper
 *   directory (upper-layer.ts), stored through the image store's import steps;
 * - its config is the container's (docker's container.Config, so what `run` gave it too) with the
 *   --change instructions applied; `container_config` is the container's as it was;
 * - its history is the parent's plus one entry (author, comment, created, created_by: the
 *   container's command; empty_layer when nothing changed);
 * - a running container is frozen while its layer is copied (docker's --pause, on by default), so
 *   the layer is one moment of it, and thawed after, unless it was paused already.
 *
 * Everything that can be refused (the changes, the name, a container without an image) is refused
 * before the container is paused or anything is written.
 */
import { quoteReference, RuntimeError } from './errors';
import type { ImageRecord, ImageStore } from './images';
import { applyChanges, type ChangeableConfig } from './images/commit-changes';
import { parseImageConfig, thisPlatform } from './images/formats';
import { normalizeReference } from './images/reference';
import { writeUpperLayer } from './images/upper-layer';
import type { RuntimeManager } from './manager';

export interface CommitRequest {
  container: string;
  /** docker's repo and tag: the new image's name; none makes a dangling image. */
  repo?: string;
  tag?: string;
  author?: string;
  comment?: string;
  /** Dockerfile instructions (commit-changes.ts). */
  changes?: readonly string[];
  /** Freeze a running container while its layer is copied. Default: true. */
  pause?: boolean;
}

type ConfigDocument = Record<string, unknown>;

function strings(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((item) => typeof item === 'string') ? [...(value as string[])] : undefined;
}

/** The runtime defaults of a docker-shaped container config (read as an image config's "config"). */
export function changeableConfig(document: ConfigDocument): ChangeableConfig {
  const config: ChangeableConfig = parseImageConfig({ config: document }).config;
  if (typeof document['StopSignal'] === 'string' && document['StopSignal'] !== '') config.StopSignal = document['StopSignal'];
  return config;
}

/** `document` with the runtime defaults of `config` written over it, in docker's container.Config shape. */
export function configDocument(document: ConfigDocument, config: ChangeableConfig): ConfigDocument {
  const result: ConfigDocument = { ...document };
  result['User'] = config.User ?? '';
  if (config.ExposedPorts && config.ExposedPorts.length > 0) result['ExposedPorts'] = Object.fromEntries(config.ExposedPorts.map((port) => [port, {}]));
  result['Env'] = config.Env && config.Env.length > 0 ? [...config.Env] : null;
  result['Cmd'] = config.Cmd && config.Cmd.length > 0 ? [...config.Cmd] : null;
  result['Volumes'] = config.Volumes && config.Volumes.length > 0 ? Object.fromEntries(config.Volumes.map((volume) => [volume, {}])) : null;
  result['WorkingDir'] = config.WorkingDir ?? '';
  result['Entrypoint'] = config.Entrypoint && config.Entrypoint.length > 0 ? [...config.Entrypoint] : null;
  result['Labels'] = config.Labels ?? {};
  if (config.StopSignal !== undefined) result['StopSignal'] = config.StopSignal;
  return result;
}

/**
 * The parent's history: its stored config's, as docker carries it on; an image stored before
 * configs were kept gets one entry per layer, as docker shows an import.
 */
function parentHistory(images: ImageStore, parent: ImageRecord): Array<Record<string, unknown>> {
  const json = images.configJson(parent);
  if (json !== undefined) {
    const history = (JSON.parse(json) as { history?: unknown }).history;
    if (Array.isArray(history)) return history.filter((entry): entry is Record<string, unknown> => entry !== null && typeof entry === 'object');
  }
  return parent.layers.map(() => ({ created: parent.createdAt, comment: 'Imported from -' }));
}

/** A container created without an image runs on the host's filesystem: it has no layer of its own. */
export function hostFilesystem(reference: string, what: 'commit' | 'diff' | 'export'): RuntimeError {
  return new RuntimeError(
    400,
    'no_image_layer',
    `cannot ${what} container ${quoteReference(reference)}: it runs on the host's filesystem (created without an image), so it has no root filesystem of its own`,
  );
}

export async function commitContainer(runtime: RuntimeManager, images: ImageStore, request: CommitRequest, now: () => Date = () => new Date()): Promise<ImageRecord> {
  const inspect = runtime.inspect(request.container);
  const id = String(inspect['Id']);
  const layer = runtime.layerOf(id);
  if (layer.imageId === '') {
    throw hostFilesystem(request.container, 'commit');
  }
  const parent = images.get(layer.imageId);
  const containerConfig = (inspect['Config'] ?? {}) as ConfigDocument;
  const changed = applyChanges(changeableConfig(containerConfig), request.changes ?? []);
  const name = request.repo ? normalizeReference(request.tag ? `${request.repo}:${request.tag}` : request.repo) : undefined;
  const state = (inspect['State'] ?? {}) as { Running?: boolean; Paused?: boolean };
  const freeze = request.pause !== false && state.Running === true && state.Paused !== true;
  const lowerDirsTopFirst = [...images.layerDirs(parent)].reverse();
  const created = now().toISOString();
  const platform = thisPlatform();
  return images.commitImage({
    parent,
    ...(name !== undefined ? { name } : {}),
    writeLayer: async (file) => {
      if (freeze) await runtime.pause(id);
      try {
        return await writeUpperLayer(layer.upperDirectory, lowerDirsTopFirst, file);
      } finally {
        if (freeze) await runtime.unpause(id);
      }
    },
    makeImage: (diffIds, emptyLayer) => {
      const config = configDocument(containerConfig, changed);
      const history = [
        ...parentHistory(images, parent),
        {
          created,
          ...(request.author ? { author: request.author } : {}),
          created_by: (strings(containerConfig['Cmd']) ?? []).join(' '),
          ...(request.comment ? { comment: request.comment } : {}),
          ...(emptyLayer ? { empty_layer: true } : {}),
        },
      ];
      // docker's image config, keys in its order; its sha256 is the new image's ID.
      const document = {
        parent: parent.id,
        ...(request.comment ? { comment: request.comment } : {}),
        created,
        container: id,
        container_config: containerConfig,
        docker_version: '',
        ...(request.author ? { author: request.author } : {}),
        config,
        architecture: parent.architecture ?? platform.architecture,
        os: parent.os ?? platform.os,
        rootfs: { type: 'layers', diff_ids: diffIds },
        history,
      };
      return {
        configJson: JSON.stringify(document),
        config: changed,
        created,
        architecture: document.architecture,
        os: document.os,
        commit: { author: request.author ?? '', comment: request.comment ?? '', container: id, parent: parent.id, containerConfig, config, history },
      };
    },
  });
}
