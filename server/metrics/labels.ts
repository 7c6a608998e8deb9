/**
 * Per-container labels beyond id, name and image, as cAdvisor exports them:
 * `container_label_<key>` for the owner's container labels and `container_env_<NAME>` for the
 * environment variables on the agent's allow-list. Pure.
 *
 * Each series carries its own container's labels only: there is no union of label keys across
 * containers (cAdvisor's known failure), so a label set adds bytes, never series. Which labels go
 * out is the agent's policy: all of them (cAdvisor's --store_container_labels default), or only the
 * allow-listed keys (--store-container-labels=false with --whitelisted-container-labels).
 */
import type { ContainerInfo } from '../model';
import { escapeLabelValue } from './exposition';

export interface ContainerLabelPolicy {
  /** Export every container label. */
  storeAll: boolean;
  /** Label keys exported when storeAll is off. */
  allowList: readonly string[];
}

export const STORE_ALL_LABELS: ContainerLabelPolicy = { storeAll: true, allowList: [] };

/** Prometheus label names allow [a-zA-Z0-9_]: anything else becomes "_" (as cAdvisor sanitises). */
export function sanitizeLabelName(key: string): string {
  return key.replace(/[^a-zA-Z0-9_]/g, '_');
}

/**
 * The extra `,name="value"` pairs of one container (starting with a comma, or ""), keys sorted.
 * Two keys that sanitise to the same name keep the first (a series must not repeat a label).
 */
export function containerLabelPairs(info: ContainerInfo, policy: ContainerLabelPolicy): string {
  let pairs = '';
  const seen = new Set<string>();
  const add = (prefix: string, entries: Record<string, string>, allowed: (key: string) => boolean): void => {
    for (const key of Object.keys(entries).sort()) {
      if (!allowed(key)) continue;
      const name = prefix + sanitizeLabelName(key);
      if (seen.has(name)) continue;
      seen.add(name);
      pairs += `,${name}="${escapeLabelValue(entries[key]!)}"`;
    }
  };
  add('container_label_', info.labels, (key) => policy.storeAll || policy.allowList.includes(key));
  // The env map holds allow-listed names only (the source never keeps the others).
  if (info.env) add('container_env_', info.env, () => true);
  return pairs;
}
