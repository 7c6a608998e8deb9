/**
 * `volume create|ls|inspect|rm|prune` over the store, with what only the runtime knows: which
 * containers use a volume (a volume in use is never removed, docker's 409), and a container's
 * anonymous volumes going with it (`rm -v`, `--rm`).
 */
import type { ManagedContainer, RuntimeState } from '../runtime-state';
import { filterVolumes, parseVolumeFilters } from './filters';
import { directoryBytes, type VolumeRecord } from './store';

export class VolumeService {
  constructor(private readonly state: RuntimeState) {}

  /** Ids of the containers (any state) whose mounts name the volume. */
  usedBy(name: string): string[] {
    return [...this.state.all()].filter((container) => !container.removed && usesVolume(container, name)).map((container) => container.id);
  }

  create(name: string | undefined, options: { labels?: Record<string, string>; driver?: string } = {}): VolumeRecord {
    this.state.assertOpen();
    return this.state.volumes.create(name, options);
  }

  list(filters: readonly string[] = []): VolumeRecord[] {
    const parsed = parseVolumeFilters(filters);
    return filterVolumes(this.state.volumes.list(), parsed, (name) => this.usedBy(name).length > 0).map(publicRecord);
  }

  inspect(name: string): VolumeRecord {
    return publicRecord(this.state.volumes.get(name));
  }

  /** docker volume rm: refused while a container uses it, stopped ones included (`force` does not change that). */
  async remove(name: string): Promise<void> {
    this.state.assertOpen();
    await this.state.volumes.remove(name, this.usedBy(name));
  }

  /** docker 20.10's volume prune: every volume no container uses (named ones too); `label` filters narrow it. */
  async prune(filters: readonly string[] = []): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }> {
    this.state.assertOpen();
    const parsed = parseVolumeFilters(filters.filter((filter) => filter.startsWith('label')));
    const unused = filterVolumes(this.state.volumes.list(), parsed, (name) => this.usedBy(name).length > 0).filter((volume) => this.usedBy(volume.Name).length === 0);
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const volume of unused) {
      const bytes = await directoryBytes(volume.Mountpoint);
      await this.state.volumes.remove(volume.Name, this.usedBy(volume.Name));
      deleted.push(volume.Name);
      reclaimed += bytes;
    }
    return { VolumesDeleted: deleted, SpaceReclaimed: reclaimed };
  }

  /** After `container` is gone: its anonymous volumes that no other container uses. */
  async removeAnonymousOf(container: ManagedContainer): Promise<void> {
    for (const mount of container.record.hostConfig.mounts ?? []) {
      if (mount.type !== 'volume' || !mount.anonymous || this.usedBy(mount.name).some((id) => id !== container.id)) continue;
      try {
        await this.state.volumes.remove(mount.name, []);
      } catch (error) {
        this.state.log(`capstan: warning: cannot remove volume ${mount.name} of container ${container.record.name}: ${(error as Error).message}`);
      }
    }
  }
}

function usesVolume(container: ManagedContainer, name: string): boolean {
  return (container.record.hostConfig.mounts ?? []).some((mount) => mount.type === 'volume' && mount.name === name);
}

/** What clients see (the Anonymous marker is capstan's own bookkeeping). */
function publicRecord(record: VolumeRecord): VolumeRecord {
  const { Anonymous: _anonymous, ...shown } = record;
  return shown;
}
