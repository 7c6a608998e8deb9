/** What every view gets and gives. */
import type { Role } from '../../server/api/auth';
import type { CgroupMode, MachineInfo } from '../../server/model';
import type { EventStore } from '../lib/events';
import type { LiveClient } from '../lib/live';

/** GET /api/v1/machine (server/api/app.ts). */
export interface MachineAnswer extends MachineInfo {
  cgroupMode: CgroupMode;
  cgroupControllersOn: 1 | 2;
  /** Units: seconds. */
  uptimeSeconds: number;
  agentVersion: string;
}

export interface AppContext {
  live: LiveClient;
  events: EventStore;
  role: Role;
  /** Loaded once at start-up; undefined if the agent did not answer. */
  machine: MachineAnswer | undefined;
}

export interface View {
  element: HTMLElement;
  /** The document title while the view is shown. */
  title: string;
  dispose(): void;
}
