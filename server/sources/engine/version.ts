/**
 * GET /version, parsed, and the API version the client speaks. Pure.
 *
 * Docker and Podman both answer the unversioned /version with Docker's document; Podman's is told
 * apart by a component named "Podman Engine", whose Details.APIVersion is the libpod API version
 * (for /libpod/ paths) while the top-level ApiVersion is the Docker-compatible one.
 *
 * The client speaks min(the engine's ApiVersion, CLIENT_API_VERSION), but never less than the
 * engine's MinAPIVersion: Docker 29 refuses anything below 1.44 ("client version 1.41 is too old"),
 * and every field capstan sends or reads (containers/json, inspect, update, top, logs, events) is
 * unchanged from 1.41 to 1.52, so speaking the engine's minimum beats being refused.
 */
import { EngineError, firstBytes } from './errors';
import type { EngineFlavour, EngineVersion } from './types';

/** The Engine API version capstan is written against. */
export const CLIENT_API_VERSION = '1.41';

const API_VERSION = /^\d+\.\d+$/;

/** Compares dotted versions numerically ("1.9" < "1.41"): negative, zero or positive. */
export function compareApiVersions(a: string, b: string): number {
  const left = a.split('.').map(Number);
  const right = b.split('.').map(Number);
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const difference = (left[i] ?? 0) - (right[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** The version to put in paths: the engine's newest capped at ours, raised to the engine's oldest. */
export function negotiateApiVersion(engineMax: string, engineMin: string | undefined, clientMax: string = CLIENT_API_VERSION): string {
  const spoken = compareApiVersions(engineMax, clientMax) < 0 ? engineMax : clientMax;
  if (engineMin !== undefined && compareApiVersions(spoken, engineMin) < 0) return engineMin;
  return spoken;
}

/** What GET /version says, before negotiation. */
export interface ParsedVersion {
  flavour: EngineFlavour;
  version: string;
  /** The newest Docker-compatible API version the engine speaks. */
  apiVersion: string;
  /** The oldest it accepts, when it says. */
  minApiVersion?: string;
  libpodApiVersion?: string;
}

function stringField(object: Record<string, unknown>, key: string): string | undefined {
  const value = object[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Reads the /version document. Throws EngineError('protocol') when it is not one. */
export function parseVersion(body: unknown): ParsedVersion {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new EngineError('protocol', `GET /version did not answer a JSON object: ${firstBytes(JSON.stringify(body) ?? String(body))}`);
  }
  const document = body as Record<string, unknown>;
  const apiVersion = stringField(document, 'ApiVersion');
  if (apiVersion === undefined || !API_VERSION.test(apiVersion)) {
    throw new EngineError('protocol', `GET /version has no ApiVersion like "1.41" (got ${firstBytes(String(document['ApiVersion']))}): not a Docker Engine API`);
  }
  const minApiVersion = stringField(document, 'MinAPIVersion');
  const components = Array.isArray(document['Components']) ? (document['Components'] as unknown[]) : [];
  const podman = components.find(
    (component): component is Record<string, unknown> =>
      !!component && typeof component === 'object' && (component as Record<string, unknown>)['Name'] === 'Podman Engine',
  );
  if (podman) {
    const details = podman['Details'] && typeof podman['Details'] === 'object' ? (podman['Details'] as Record<string, unknown>) : {};
    const libpodApiVersion = stringField(details, 'APIVersion') ?? stringField(podman, 'Version');
    const parsed: ParsedVersion = {
      flavour: 'podman',
      version: stringField(podman, 'Version') ?? stringField(document, 'Version') ?? 'unknown',
      apiVersion,
      ...(libpodApiVersion !== undefined ? { libpodApiVersion } : {}),
    };
    if (minApiVersion !== undefined && API_VERSION.test(minApiVersion)) parsed.minApiVersion = minApiVersion;
    return parsed;
  }
  const parsed: ParsedVersion = { flavour: 'docker', version: stringField(document, 'Version') ?? 'unknown', apiVersion };
  if (minApiVersion !== undefined && API_VERSION.test(minApiVersion)) parsed.minApiVersion = minApiVersion;
  return parsed;
}

/** The parsed document with the version the client will speak. */
export function engineVersion(parsed: ParsedVersion, clientMax: string = CLIENT_API_VERSION): EngineVersion {
  const version: EngineVersion = {
    flavour: parsed.flavour,
    version: parsed.version,
    apiVersion: negotiateApiVersion(parsed.apiVersion, parsed.minApiVersion, clientMax),
    engineApiVersion: parsed.apiVersion,
  };
  if (parsed.minApiVersion !== undefined) version.engineMinApiVersion = parsed.minApiVersion;
  if (parsed.libpodApiVersion !== undefined) version.libpodApiVersion = parsed.libpodApiVersion;
  return version;
}

/** Docker's answer when the version in the path is outside its range, e.g. after an upgrade under us. */
export function isApiVersionRefusal(status: number, message: string): boolean {
  return status === 400 && /client version \S+ is too (old|new)/i.test(message);
}
