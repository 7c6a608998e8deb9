/**
 * Re-adoption at start-up: what an earlier agent left in the state directory becomes this agent's
 * again. The shims outlive agents, so the files decide, not the recorded status: init.json names
 * the latest run a shim started, exit.json its end, spec.json everything the agent knew. Live
 * processes (PID and start time both match) keep running and get their limits, ports and watcher
 * back; exits that happened meanwhile are reported with their codes; restart policies resume.
 */
import { isFrozen, removeCgroup } from './container-cgroup';
import type { ExitMonitor } from './exits';
import type { Launcher } from './launch';
import { applyContainerLimits } from './limits';
import { isSameProcess, processExists } from './process';
import type { Removal } from './removal';
import { nowRfc3339, type RuntimeState } from './runtime-state';
import type { SpecWriter } from './spec-writer';

export class Adoption {
  constructor(
    private readonly state: RuntimeState,
    private readonly specs: SpecWriter,
    private readonly exits: ExitMonitor,
    private readonly launcher: Launcher,
    private readonly removal: Removal,
  ) {}

  async adopt(id: string): Promise<void> {
    const { store, options } = this.state;
    const record = store.readRecord(id);
    const directory = store.directory(id);
    if (!record) {
      const cgroupPath = this.state.cgroupPathOf(id);
      // A folder without spec.json is a create that crashed half-way: finish undoing it.
      this.state.log(`capstan: removing half-created container folder ${directory}`);
      await removeCgroup(options.cgroups, cgroupPath);
      await this.removal.releaseRootfs(directory);
      await store.removeDirectory(id);
      return;
    }
    const container = this.state.register(record);
    const state = record.state;
    // init.json names the latest run the shim started. spec.json may not know it yet (the agent
    // died between the start and the save), so the process decides, not the recorded status.
    const init = store.readInit(id);
    const unrecordedRun = init !== undefined && init.startTimeTicks !== state.startTimeTicks;
    const alive = init !== undefined && isSameProcess(init.pid, init.startTimeTicks);
    if (init && (alive || unrecordedRun)) {
      Object.assign(state, { status: 'running', pid: init.pid, startTimeTicks: init.startTimeTicks, shimPid: init.shimPid, startedAt: init.startedAt });
    }
    // Kills while no agent watched are reported now: by the first reading of a running container's
    // watch, by the settle of one that exited meanwhile (dated by its exit, then its `die`).
    // A spec.json from before the count was kept knows none was reported only when OOMKilled is false.
    const killsReported = state.oomKillsReported ?? (state.oomKilled ? undefined : 0);
    const watchOom = (): void => options.oomWatch?.watch(this.state.infoOf(container), { killsReported });
    if (!alive && state.status !== 'running' && state.status !== 'paused') {
      if (state.status === 'restarting') this.exits.scheduleRestart(container);
      // Nothing runs: make sure nothing is left of the last run either.
      else if (state.status !== 'created') container.cleanup = removeCgroup(options.cgroups, container.cgroupPath);
      return;
    }
    if (alive) {
      container.startedAtMs = Date.parse(state.startedAt) || Date.now();
      state.status = isFrozen(options.cgroups, container.cgroupPath) ? 'paused' : 'running';
      // The spec is the truth for the limits it records (create, and every `capstan update` since):
      // whatever changed the cgroup while no agent watched, the container gets its limits back.
      try {
        applyContainerLimits(options.cgroups, container.cgroupPath, record.hostConfig.limits);
      } catch (error) {
        this.state.log(`capstan: warning: container ${record.name}: cannot re-apply its limits: ${(error as Error).message}`);
      }
      this.exits.watch(container);
      watchOom();
      try {
        container.ports = await this.launcher.bindPorts(container);
        state.boundPorts = container.ports.bound;
      } catch (error) {
        this.state.log(`capstan: warning: container ${record.name}: cannot publish its ports again: ${(error as Error).message}`);
        state.boundPorts = [];
      }
      void this.specs.persist(container);
      // It may have exited between the check and the watch.
      this.exits.checkExit(container);
      return;
    }
    const exit = store.readExit(id);
    watchOom();
    if (!exit && init && init.shimPid > 0 && processExists(init.shimPid)) {
      // The process has ended but its shim is still at work (it drains the output before it writes
      // exit.json): the exit is reported with its real code once the record is there, not as 255.
      container.startedAtMs = Date.parse(state.startedAt) || Date.now();
      this.exits.watch(container);
      this.exits.checkExit(container);
      return;
    }
    this.exits.handleExit(container, exit ?? { exitCode: 255, finishedAt: nowRfc3339() }, exit ? '' : 'the shim ended without recording an exit status');
  }
}
