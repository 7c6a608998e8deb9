/**
 * The Node options the agent starts with: `bin/capstan agent` (and so `npm start`) puts them in
 * front of NODE_OPTIONS, so an operator's own setting of the same option wins.
 *
 * Why a small young generation: each tick at 1000 cgroups allocates several MiB that live about one
 * interval (the file texts, the samples, the snapshot readers use until the next tick). With V8's
 * default semi-spaces (growing to 16 MiB each) that garbage outlives a scavenge or two, is
 * promoted, and piles up in the old generation until a mark-compact: the agent's RSS saw-toothed
 * between about 180 and 245 MiB there. With 1 MiB semi-spaces it stayed between 151 and 159 MiB,
 * for about 15 % more CPU (67-69 against 77-79 ms of CPU a second; BENCHMARKS.md, memory). An
 * agent's memory should be predictable enough to set a limit on; a few ms of CPU a second buy that.
 */
export const AGENT_NODE_OPTIONS = '--max-semi-space-size=1';
