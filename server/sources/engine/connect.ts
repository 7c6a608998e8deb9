/**
 * One engine source from a `--docker-host` / `--podman-host` value: the address is parsed once
 * (a mistake is a start-up error naming the flag), and the source connects in the background.
 */
import { EngineClient } from './client';
import { parseEngineHost } from './host';
import { EngineSource, type EngineSourceOptions } from './source';

export function connectEngine(kind: 'docker' | 'podman', hostText: string, options: Omit<EngineSourceOptions, 'kind' | 'client'>): EngineSource {
  const address = parseEngineHost(hostText, `--${kind}-host`, process.env);
  return new EngineSource({ ...options, kind, client: new EngineClient({ address }) });
}
