/**
 * Taking a stopped container away for good: its cgroup, root filesystem, folder and name. Kept
 * apart from the lifecycle because three paths end here besides `rm`: `--rm` after an exit, a
 * failed `run`, and re-adoption finishing a create that crashed half-way.
 */
import { removeCgroup } from './container-cgroup';
import { withTimeout, type ManagedContainer, type RuntimeState } from './runtime-state';
import type { SpecWriter } from './spec-writer';
import { readMountinfo } from './store';
import { VolumeService } from './volumes/service';

/** How long removal waits for attached clients and log followers to drain. Units: milliseconds. */
const DRAIN_TIMEOUT_MS = 5_000;

export class Removal {
  constructor(
    private readonly state: RuntimeState,
    private readonly specs: SpecWriter,
  ) {}

  /**
   * Removes a stopped container: cgroup, rootfs, folder, name; publishes `destroy`. Its anonymous
   * volumes go too with `removeVolumes` (rm -v) or when it was a --rm container, as in docker.
   */
  async destroy(container: ManagedContainer, options: { removeVolumes?: boolean } = {}): Promise<void> {
    if (container.removed || container.removing) return;
    container.record.state.status = 'removing';
    container.removing = true;
    if (container.restartTimer) clearTimeout(container.restartTimer);
    try {
      await container.cleanup;
      await withTimeout(Promise.allSettled([...container.holds]), DRAIN_TIMEOUT_MS);
      await container.ports?.close();
      await removeCgroup(this.state.options.cgroups, container.cgroupPath);
      await container.saving;
      await this.releaseRootfs(container.directory);
      await this.state.store.removeDirectory(container.id, readMountinfo());
    } catch (error) {
      // Still there: keep it listed (as "dead", docker's word for a container that failed removal).
      container.removing = false;
      container.record.state.status = 'dead';
      void this.specs.persist(container);
      throw error;
    }
    container.removed = true;
    this.state.forget(container);
    this.state.event(container, 'destroy');
    if (options.removeVolumes || container.record.hostConfig.autoRemove) await new VolumeService(this.state).removeAnonymousOf(container);
    container.emit('removed');
  }

  async releaseRootfs(directory: string): Promise<void> {
    try {
      await this.state.options.rootfs.release(directory);
    } catch (error) {
      this.state.log(`capstan: warning: releasing the root filesystem in ${directory}: ${(error as Error).message}`);
    }
  }
}
