/**
 * `volume ls -f`: docker's filters dangling=true|false, name=SUBSTRING, driver=NAME,
 * label=KEY[=VALUE]. Filters of one key are alternatives; different keys must all hold. Pure.
 */
import { badRequest } from '../errors';
import type { VolumeRecord } from './store';

const KEYS = new Set(['dangling', 'name', 'driver', 'label']);

export function parseVolumeFilters(filters: readonly string[]): Map<string, string[]> {
  const parsed = new Map<string, string[]>();
  for (const filter of filters) {
    const eq = filter.indexOf('=');
    if (eq === -1) throw badRequest('invalid_filter', `bad format of filter (expected name=value)`);
    const key = filter.slice(0, eq).toLowerCase();
    const value = filter.slice(eq + 1);
    if (!KEYS.has(key)) throw badRequest('invalid_filter', `invalid filter '${key}'`);
    if (key === 'dangling' && !['true', 'false', '1', '0'].includes(value)) {
      throw badRequest('invalid_filter', `invalid filter 'dangling=${value}'`);
    }
    parsed.set(key, [...(parsed.get(key) ?? []), value]);
  }
  return parsed;
}

/** `inUse(name)`: whether any container mounts the volume (dangling = none does). */
export function filterVolumes(volumes: readonly VolumeRecord[], filters: Map<string, string[]>, inUse: (name: string) => boolean): VolumeRecord[] {
  return volumes.filter((volume) => {
    for (const [key, values] of filters) {
      const holds = values.some((value) => {
        switch (key) {
          case 'dangling':
            return (value === 'true' || value === '1') === !inUse(volume.Name);
          case 'name':
            return volume.Name.includes(value);
          case 'driver':
            return volume.Driver === value;
          default: {
            const eq = value.indexOf('=');
            const label = eq === -1 ? value : value.slice(0, eq);
            if (!Object.prototype.hasOwnProperty.call(volume.Labels, label)) return false;
            return eq === -1 || volume.Labels[label] === value.slice(eq + 1);
          }
        }
      });
      if (!holds) return false;
    }
    return true;
  });
}
