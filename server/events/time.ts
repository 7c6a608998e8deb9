/**
 * Times the way `docker events` reads and prints them. Pure: the reference time and the time zone
 * offset are passed in.
 *
 * Reading (`--since`/`--until`, docker's GetTimestamp in api/types/time): a Go duration counts
 * back from now ("10m", "1h30m", truncated to whole seconds as docker does); a date or RFC 3339
 * time ("2026-11-22", "2026-11-22T10:15", "2026-11-22T10:15:55.5+01:00") is taken in the local
 * zone unless it names one; anything else must be Unix seconds with an optional fraction
 * ("1795000000", "1795000000.123456789").
 */

export class TimestampError extends Error {
  override name = 'TimestampError';
}

const GO_DURATION_UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's time.ParseDuration: "300ms", "-1.5h", "2h45m". Returns milliseconds, or undefined if not a duration. */
export function parseGoDuration(text: string): number | undefined {
  const match = /^([-+]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/.exec(text);
  if (!match) return text === '0' || text === '+0' || text === '-0' ? 0 : undefined;
  let totalMs = 0;
  for (const part of match[2]!.matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    totalMs += Number(part[1]) * GO_DURATION_UNITS_MS[part[2]!]!;
  }
  return match[1] === '-' ? -totalMs : totalMs;
}

/** A point in time with nanosecond precision, as docker passes it: whole Unix seconds plus nanoseconds. */
export interface UnixTime {
  /** Units: seconds since the Unix epoch. */
  seconds: number;
  /** Units: nanoseconds (0 to 999999999). */
  nanoseconds: number;
}

export function unixTimeToMs(time: UnixTime): number {
  return time.seconds * 1000 + time.nanoseconds / 1e6;
}

export function msToUnixTime(timeMs: number): UnixTime {
  const seconds = Math.floor(timeMs / 1000);
  return { seconds, nanoseconds: Math.round((timeMs - seconds * 1000) * 1e6) };
}

/** "seconds.nanoseconds", the form docker's CLI sends to the daemon. */
export function formatUnixTime(time: UnixTime): string {
  return `${time.seconds}.${String(time.nanoseconds).padStart(9, '0')}`;
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?(Z|z|[+-]\d{2}:\d{2})?$/;

/**
 * Parses a --since/--until value (see the file comment). `nowMs` is the reference for durations;
 * `localOffsetMinutes(ms)` gives the local zone's offset east of UTC at a time (Date's
 * getTimezoneOffset negated), for times that name no zone.
 */
export function parseDockerTimestamp(
  value: string,
  nowMs: number,
  localOffsetMinutes: (timeMs: number) => number = (timeMs) => -new Date(timeMs).getTimezoneOffset(),
): UnixTime {
  const text = value.trim();
  const durationMs = text === '0' ? undefined : parseGoDuration(text);
  if (durationMs !== undefined) {
    // docker: reference.Add(-d).Unix(): whole seconds, rounded down.
    return { seconds: Math.floor((nowMs - durationMs) / 1000), nanoseconds: 0 };
  }
  const dateTime = DATE_TIME.exec(text);
  if (dateTime) {
    const [, year, month, day, hour, minute, second, fraction, zone] = dateTime;
    const fields = [year, month, day, hour ?? '0', minute ?? '0', second ?? '0'].map(Number) as [number, number, number, number, number, number];
    const [y, mo, d, h, mi, s] = fields;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) {
      throw new TimestampError(`invalid time ${JSON.stringify(value)}: out of range`);
    }
    const wallMs = Date.UTC(y, mo - 1, d, h, mi, s);
    let offsetMinutes: number;
    if (zone === undefined) {
      // Local wall time: find the offset in force at that instant (two passes settle DST edges).
      offsetMinutes = localOffsetMinutes(wallMs);
      offsetMinutes = localOffsetMinutes(wallMs - offsetMinutes * 60_000);
    } else if (zone === 'Z' || zone === 'z') {
      offsetMinutes = 0;
    } else {
      const sign = zone.startsWith('-') ? -1 : 1;
      offsetMinutes = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
    }
    const seconds = (wallMs - offsetMinutes * 60_000) / 1000;
    return { seconds, nanoseconds: fraction === undefined ? 0 : Number(fraction.padEnd(9, '0')) };
  }
  if (text.includes('-')) {
    throw new TimestampError(`invalid time ${JSON.stringify(value)}: expected an RFC 3339 time such as 2026-11-22T10:15:55Z`);
  }
  const unix = /^(\d+)(?:\.(\d{1,9}))?$/.exec(text);
  if (!unix) throw new TimestampError(`failed to parse value as time or duration: ${JSON.stringify(value)}`);
  return { seconds: Number(unix[1]), nanoseconds: unix[2] === undefined ? 0 : Number(unix[2].padEnd(9, '0')) };
}

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

/**
 * Go's "2006-01-02T15:04:05.000000000Z07:00" (docker's RFC3339NanoFixed, what `docker events`
 * prints): always nine fraction digits; "Z" for a zero offset, else ±hh:mm.
 * `offsetMinutes` is the zone's offset east of UTC (local time: -getTimezoneOffset()).
 */
export function formatRfc3339NanoFixed(time: UnixTime, offsetMinutes: number): string {
  const wall = new Date((time.seconds + offsetMinutes * 60) * 1000);
  const date = `${pad(wall.getUTCFullYear(), 4)}-${pad(wall.getUTCMonth() + 1)}-${pad(wall.getUTCDate())}`;
  const clock = `${pad(wall.getUTCHours())}:${pad(wall.getUTCMinutes())}:${pad(wall.getUTCSeconds())}`;
  let zone = 'Z';
  if (offsetMinutes !== 0) {
    const absolute = Math.abs(offsetMinutes);
    zone = `${offsetMinutes < 0 ? '-' : '+'}${pad(Math.floor(absolute / 60))}:${pad(absolute % 60)}`;
  }
  return `${date}T${clock}.${pad(time.nanoseconds, 9)}${zone}`;
}

/** The local zone's offset east of UTC at `timeMs`. Units: minutes. */
export function localOffsetMinutes(timeMs: number): number {
  const offset = -new Date(timeMs).getTimezoneOffset();
  return offset === 0 ? 0 : offset; // never -0
}
