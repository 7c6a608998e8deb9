/**
 * Durations as people read them, in docker's words (github.com/docker/go-units HumanDuration).
 * Pure. Here, below everything, because the agent's ps answer (docker's "Up 5 minutes" Status)
 * and the CLI's columns both print it.
 */

/**
 * go-units HumanDuration, e.g. "Less than a second", "About a minute", "5 minutes", "3 weeks".
 * docker ps appends " ago" for its CREATED column. Units: milliseconds in.
 */
export function humanDuration(durationMs: number): string {
  // Go converts with int(d.Seconds()) and friends, which truncate toward zero.
  const seconds = Math.trunc(durationMs / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(durationMs / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(durationMs / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(durationMs / 3_600_000) / 24 / 365)} years`;
}
