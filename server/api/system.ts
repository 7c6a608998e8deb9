/**
 * GET /api/v1/version and GET /api/v1/info: the agent's answers to `capstan version` and
 * `capstan info`, in the shapes of docker's Engine API (/version, /info) for the fields capstan
 * has. Fields docker fills from Go (GoVersion, GitCommit, BuildTime) are "" here: capstan is not
 * built from Go, and its runtime's version is NodeVersion.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import express from 'express';
import type { Collector } from '../collector/collector';
import type { MachineInfo } from '../model';
import { thisPlatform } from '../runtime/images/formats';
import type { ImageStore } from '../runtime/images';
import type { RuntimeManager } from '../runtime/manager';

/** The API's version, as its paths say (/api/v1). */
export const API_VERSION = '1';

export interface SystemRouterOptions {
  collector: Collector;
  machine: MachineInfo;
  stateDir: string;
  version: string;
  runtime?: RuntimeManager;
  images?: ImageStore;
}

/** PRETTY_NAME of an os-release file (what docker's OperatingSystem shows), unquoted. Pure. */
export function prettyName(osRelease: string): string | undefined {
  const line = osRelease.split('\n').find((entry) => entry.startsWith('PRETTY_NAME='));
  if (line === undefined) return undefined;
  const value = line.slice('PRETTY_NAME='.length).trim();
  return value.replace(/^(["'])(.*)\1$/, '$2');
}

function operatingSystem(machine: MachineInfo): string {
  for (const file of ['/etc/os-release', '/usr/lib/os-release']) {
    try {
      const name = prettyName(fs.readFileSync(file, 'utf8'));
      if (name) return name;
    } catch {
      // Not there: the next, then systeminformation's name.
    }
  }
  return machine.os;
}

export function systemRouter(options: SystemRouterOptions): express.Router {
  const router = express.Router();
  const platform = thisPlatform();

  router.get('/version', (_request, response) => {
    const details = { ApiVersion: API_VERSION, Arch: platform.architecture, KernelVersion: options.machine.kernel, MinAPIVersion: API_VERSION, NodeVersion: process.versions.node, Os: platform.os };
    response.json({
      Platform: { Name: 'capstan' },
      Components: [{ Name: 'Agent', Version: options.version, Details: details }],
      Version: options.version,
      ApiVersion: API_VERSION,
      MinAPIVersion: API_VERSION,
      GitCommit: '',
      GoVersion: '',
      NodeVersion: process.versions.node,
      Os: platform.os,
      Arch: platform.architecture,
      KernelVersion: options.machine.kernel,
      BuildTime: '',
    });
  });

  router.get('/info', (_request, response) => {
    const containers = options.runtime?.list() ?? [];
    const count = (statuses: readonly string[]): number => containers.filter((container) => statuses.includes(container.status)).length;
    const running = count(['running', 'restarting']);
    const paused = count(['paused']);
    response.json({
      ID: options.machine.machineId ?? '',
      Containers: containers.length,
      ContainersRunning: running,
      ContainersPaused: paused,
      ContainersStopped: containers.length - running - paused,
      Images: options.images?.list().length ?? 0,
      Driver: 'overlay',
      // capstan writes cgroup files itself, as docker's cgroupfs driver does (no systemd units).
      CgroupDriver: 'cgroupfs',
      CgroupVersion: options.collector.layout.mode === 'v2' ? '2' : '1',
      LoggingDriver: 'capstan',
      KernelVersion: options.machine.kernel,
      OperatingSystem: operatingSystem(options.machine),
      OSType: 'linux',
      Architecture: os.machine(),
      NCPU: options.machine.cpuCores,
      MemTotal: options.machine.memoryBytes,
      DockerRootDir: options.stateDir,
      Name: options.machine.hostname,
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: options.version,
      // Containers outlive the agent: the shim holds them, and a new agent re-adopts them.
      LiveRestoreEnabled: true,
      SecurityOptions: ['name=seccomp,profile=default', 'name=no-new-privileges'],
      SystemTime: new Date().toISOString(),
      Warnings: null,
    });
  });

  return router;
}
