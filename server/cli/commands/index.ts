/**
 * The subcommand table. A new command is one file in this folder plus one line here.
 *
 * Modules load when their command is used: a CLI starts on every call, and on a small machine Node
 * spends milliseconds per module, so `capstan run` does not parse what `update` or `image` need.
 * (A lazy require typed against the module, as the agent command does for the server.)
 */
import type { Command } from './types';

/* eslint-disable @typescript-eslint/no-require-imports */
const LOADERS: Readonly<Record<string, () => Command>> = {
  agent: () => (require('./agent') as typeof import('./agent')).agentCommand,
  cgroups: () => (require('./cgroups') as typeof import('./cgroups')).cgroupsCommand,
  commit: () => (require('./commit') as typeof import('./commit')).commitCommand,
  create: () => (require('./create') as typeof import('./create')).createCommand,
  diff: () => (require('./diff') as typeof import('./diff')).diffCommand,
  events: () => (require('./events') as typeof import('./events')).eventsCommand,
  exec: () => (require('./exec') as typeof import('./exec')).execCommand,
  export: () => (require('./export') as typeof import('./export')).exportCommand,
  history: () => (require('./history') as typeof import('./history')).historyCommand,
  image: () => (require('./image') as typeof import('./image')).imageCommand,
  images: () => (require('./images') as typeof import('./images')).imagesCommand,
  info: () => (require('./info') as typeof import('./info')).infoCommand,
  inspect: () => (require('./inspect') as typeof import('./inspect')).inspectCommand,
  kill: () => (require('./kill') as typeof import('./kill')).killCommand,
  load: () => (require('./load') as typeof import('./load')).loadCommand,
  login: () => (require('./login') as typeof import('./login')).loginCommand,
  logout: () => (require('./login') as typeof import('./login')).logoutCommand,
  logs: () => (require('./logs') as typeof import('./logs')).logsCommand,
  pause: () => (require('./pause') as typeof import('./pause')).pauseCommand,
  port: () => (require('./port') as typeof import('./port')).portCommand,
  ps: () => (require('./ps') as typeof import('./ps')).psCommand,
  pull: () => (require('./pull') as typeof import('./pull')).pullCommand,
  push: () => (require('./push') as typeof import('./push')).pushCommand,
  restart: () => (require('./restart') as typeof import('./restart')).restartCommand,
  rm: () => (require('./rm') as typeof import('./rm')).rmCommand,
  run: () => (require('./run') as typeof import('./run')).runCommand,
  save: () => (require('./save') as typeof import('./save')).saveCommand,
  start: () => (require('./start') as typeof import('./start')).startCommand,
  stats: () => (require('./stats') as typeof import('./stats')).statsCommand,
  stop: () => (require('./stop') as typeof import('./stop')).stopCommand,
  tag: () => (require('./tag') as typeof import('./tag')).tagCommand,
  top: () => (require('./top') as typeof import('./top')).topCommand,
  unpause: () => (require('./unpause') as typeof import('./unpause')).unpauseCommand,
  update: () => (require('./update') as typeof import('./update')).updateCommand,
  version: () => (require('./version') as typeof import('./version')).versionCommand,
  volume: () => (require('./volume') as typeof import('./volume')).volumeCommand,
  wait: () => (require('./wait') as typeof import('./wait')).waitCommand,
};
/* eslint-enable @typescript-eslint/no-require-imports */

/** Every command, loaded (for the help text). */
export function allCommands(): Command[] {
  return Object.values(LOADERS).map((load) => load());
}

export function findCommand(name: string): Command | undefined {
  return Object.prototype.hasOwnProperty.call(LOADERS, name) ? LOADERS[name]!() : undefined;
}
