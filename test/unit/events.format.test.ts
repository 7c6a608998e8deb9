// docker events' shapes and inputs: filters, --since/--until timestamps, the default line, the
// JSON message and templates.
import test from 'ava';

import { CliError } from '../../server/cli/errors';
import { dockerEventLine, dockerMessageJson, eventPrinter, eventsQuery, toDockerMessage } from '../../server/cli/commands/events';
import {
  EventFilterError,
  formatRfc3339NanoFixed,
  formatUnixTime,
  matchesEventFilters,
  mergeEventFilters,
  parseDockerFiltersJson,
  parseDockerTimestamp,
  parseEventFilters,
  parseGoDuration,
  TimestampError,
  type CapstanEvent,
} from '../../server/events';

const ID = '3f2a'.padEnd(64, '0');

function oom(overrides: Partial<CapstanEvent> = {}): CapstanEvent {
  return {
    type: 'container',
    action: 'oom',
    actor: { id: ID, name: 'web', cgroupPath: '/capstan/web', image: 'busybox:latest' },
    timeMs: Date.UTC(2026, 10, 22, 10, 15, 55, 123),
    attributes: { name: 'web', image: 'busybox:latest', 'com.example.team': 'a<b' },
    ...overrides,
  };
}

// ---------------------------------------------------------------------------------------------
// Filters

test('filters: event= and type=<action> select actions; type=container is the object type', (t) => {
  const die = oom({ action: 'die' });
  t.true(matchesEventFilters(oom(), parseEventFilters(['event=oom'])));
  t.false(matchesEventFilters(die, parseEventFilters(['event=oom'])));
  t.true(matchesEventFilters(oom(), parseEventFilters(['type=oom'])), 'type=oom as the issue writes it');
  t.false(matchesEventFilters(die, parseEventFilters(['type=oom'])));
  t.true(matchesEventFilters(die, parseEventFilters(['type=container'])));
  t.false(matchesEventFilters(die, parseEventFilters(['type=image'])));
  t.true(matchesEventFilters(oom(), parseEventFilters(['type=container', 'type=oom'])));
  // Values of one key are ORed, keys ANDed.
  t.true(matchesEventFilters(die, parseEventFilters(['event=oom', 'event=die'])));
  t.false(matchesEventFilters(die, parseEventFilters(['event=die', 'container=db'])));
  t.true(matchesEventFilters(die, new Map()));
});

test('filters: container= matches the id or the name, exactly or by prefix', (t) => {
  for (const value of ['web', 'we', ID, '3f2a']) t.true(matchesEventFilters(oom(), parseEventFilters([`container=${value}`])), value);
  for (const value of ['db', 'web2', 'ffff']) t.false(matchesEventFilters(oom(), parseEventFilters([`container=${value}`])), value);
});

test('filters: label=, image=, scope=; other object kinds never match a container event', (t) => {
  t.true(matchesEventFilters(oom(), parseEventFilters(['label=com.example.team'])));
  t.true(matchesEventFilters(oom(), parseEventFilters(['label=com.example.team=a<b'])));
  t.false(matchesEventFilters(oom(), parseEventFilters(['label=com.example.team=b'])));
  t.true(matchesEventFilters(oom(), parseEventFilters(['image=busybox'])));
  t.false(matchesEventFilters(oom(), parseEventFilters(['image=alpine'])));
  t.true(matchesEventFilters(oom(), parseEventFilters(['scope=local'])));
  t.false(matchesEventFilters(oom(), parseEventFilters(['scope=swarm'])));
  t.false(matchesEventFilters(oom(), parseEventFilters(['network=bridge'])));
});

test('filters: bad keys and formats are refused with docker wording; JSON forms are accepted', (t) => {
  t.throws(() => parseEventFilters(['colour=red']), { instanceOf: EventFilterError, message: "invalid filter 'colour'" });
  t.throws(() => parseEventFilters(['oom']), { instanceOf: EventFilterError, message: 'bad format of filter (expected name=value): oom' });
  t.deepEqual([...parseDockerFiltersJson('{"event":["oom","die"]}')], [['event', ['oom', 'die']]]);
  t.deepEqual([...parseDockerFiltersJson('{"event":{"oom":true,"die":false}}')], [['event', ['oom']]]);
  t.throws(() => parseDockerFiltersJson('{"event":'), { instanceOf: EventFilterError });
  t.throws(() => parseDockerFiltersJson('{"nope":["x"]}'), { instanceOf: EventFilterError, message: "invalid filter 'nope'" });
  t.deepEqual([...mergeEventFilters(parseEventFilters(['event=oom']), parseEventFilters(['event=die', 'container=web']))], [
    ['event', ['oom', 'die']],
    ['container', ['web']],
  ]);
});

// ---------------------------------------------------------------------------------------------
// Timestamps

test('Go durations', (t) => {
  t.is(parseGoDuration('10m'), 600_000);
  t.is(parseGoDuration('1h30m'), 5_400_000);
  t.is(parseGoDuration('1.5s'), 1500);
  t.is(parseGoDuration('-2s'), -2000);
  t.is(parseGoDuration('300ms'), 300);
  t.is(parseGoDuration('0'), 0);
  t.is(parseGoDuration('10'), undefined);
  t.is(parseGoDuration('10x'), undefined);
});

test('--since/--until values are read as docker reads them', (t) => {
  const now = Date.UTC(2026, 10, 22, 10, 0, 0, 500);
  const utc = (): number => 0;
  // Durations count back from now, in whole seconds.
  t.deepEqual(parseDockerTimestamp('10m', now, utc), { seconds: Math.floor((now - 600_000) / 1000), nanoseconds: 0 });
  // Unix seconds, with an optional fraction.
  t.deepEqual(parseDockerTimestamp('1795000000', now, utc), { seconds: 1795000000, nanoseconds: 0 });
  t.deepEqual(parseDockerTimestamp('1795000000.5', now, utc), { seconds: 1795000000, nanoseconds: 500_000_000 });
  t.deepEqual(parseDockerTimestamp('0', now, utc), { seconds: 0, nanoseconds: 0 });
  // RFC 3339, with a zone or in the local one.
  t.deepEqual(parseDockerTimestamp('2026-11-22T10:15:55.123456789Z', now, utc), { seconds: Date.UTC(2026, 10, 22, 10, 15, 55) / 1000, nanoseconds: 123456789 });
  t.deepEqual(parseDockerTimestamp('2026-11-22T11:15:55+01:00', now, utc), { seconds: Date.UTC(2026, 10, 22, 10, 15, 55) / 1000, nanoseconds: 0 });
  t.deepEqual(parseDockerTimestamp('2026-11-22', now, () => 60), { seconds: Date.UTC(2026, 10, 21, 23, 0, 0) / 1000, nanoseconds: 0 });
  t.deepEqual(parseDockerTimestamp('2026-11-22T10:15', now, utc), { seconds: Date.UTC(2026, 10, 22, 10, 15) / 1000, nanoseconds: 0 });
  t.throws(() => parseDockerTimestamp('yesterday', now, utc), { instanceOf: TimestampError, message: 'failed to parse value as time or duration: "yesterday"' });
  t.throws(() => parseDockerTimestamp('2026-13-01', now, utc), { instanceOf: TimestampError });
  t.throws(() => parseDockerTimestamp('2026-1-1x', now, utc), { instanceOf: TimestampError });
  t.is(formatUnixTime({ seconds: 1795000000, nanoseconds: 5 }), '1795000000.000000005');
});

test("RFC3339NanoFixed: nine fraction digits, Z or the zone's offset", (t) => {
  const time = { seconds: Date.UTC(2026, 10, 22, 10, 15, 55) / 1000, nanoseconds: 123_000_000 };
  t.is(formatRfc3339NanoFixed(time, 0), '2026-11-22T10:15:55.123000000Z');
  t.is(formatRfc3339NanoFixed(time, 60), '2026-11-22T11:15:55.123000000+01:00');
  t.is(formatRfc3339NanoFixed(time, -330), '2026-11-22T04:45:55.123000000-05:30');
  t.is(formatRfc3339NanoFixed({ seconds: 0, nanoseconds: 0 }, 0), '1970-01-01T00:00:00.000000000Z');
});

// ---------------------------------------------------------------------------------------------
// Output

test("the default line is docker's: time, type, action, id, sorted attributes", (t) => {
  t.is(
    dockerEventLine(oom(), 0),
    `2026-11-22T10:15:55.123000000Z container oom ${ID} (com.example.team=a<b, image=busybox:latest, name=web)`,
  );
  // name and image come from the actor when a producer did not set them.
  const bare = oom({ action: 'die', attributes: { exitCode: '137' } });
  t.is(dockerEventLine(bare, 60), `2026-11-22T11:15:55.123000000+01:00 container die ${ID} (exitCode=137, image=busybox:latest, name=web)`);
  const raw = oom({ actor: { id: ID, name: '/capstan-test/oom', cgroupPath: '/capstan-test/oom', image: '' }, attributes: {} });
  t.is(dockerEventLine(raw, 0), `2026-11-22T10:15:55.123000000Z container oom ${ID} (name=/capstan-test/oom)`);
});

test("--format json is docker's events.Message, field for field", (t) => {
  const message = toDockerMessage(oom());
  t.is(message.timeNano, '1795342555123000000');
  t.is(
    dockerMessageJson(message),
    `{"Type":"container","Action":"oom","Actor":{"ID":"${ID}","Attributes":{"com.example.team":"a<b","image":"busybox:latest","name":"web"}},` +
      `"scope":"local","time":1795342555,"timeNano":1795342555123000000}`,
  );
  t.is(eventPrinter('json')(oom()), dockerMessageJson(message));
  const parsed = JSON.parse(eventPrinter('json')(oom())) as Record<string, unknown>;
  t.deepEqual(Object.keys(parsed), ['Type', 'Action', 'Actor', 'scope', 'time', 'timeNano']);
});

test('templates see the Go fields: .Action, .Actor.ID, .Actor.Attributes.name, maps and json', (t) => {
  t.is(eventPrinter('{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Time}}')(oom()), 'container oom web 1795342555');
  t.is(eventPrinter('{{.Actor.Attributes.missing}}')(oom()), '<no value>');
  t.is(eventPrinter('{{json .Actor.Attributes}}')(oom()), '{"com.example.team":"a<b","image":"busybox:latest","name":"web"}');
  t.is(eventPrinter('{{.Actor.Attributes}}')(oom()), 'map[com.example.team:a<b image:busybox:latest name:web]');
  t.is(eventPrinter('{{.Status}} {{.ID}} {{.From}} {{.Scope}} {{.TimeNano}}')(oom()), `oom ${ID} busybox:latest local 1795342555123000000`);
  t.is(eventPrinter('{{upper .Action}}')(oom()), 'OOM');
  // Checked before anything is fetched, as docker checks it on an empty message.
  const bad = t.throws(() => eventPrinter('{{.Nope}}'), { instanceOf: CliError });
  t.is(bad!.message, 'Error parsing format: template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type events.Message');
  t.is(bad!.exitCode, 64);
  t.throws(() => eventPrinter('{{.Action'), { instanceOf: CliError });
});

test('the query sent to the agent: relative times resolved locally, filters passed through', (t) => {
  const now = Date.UTC(2026, 10, 22, 10, 0, 0);
  t.is(eventsQuery({ filters: [] }, now), '');
  t.is(
    eventsQuery({ since: '1m', until: '1795000000', filters: ['type=oom', 'container=web'] }, now),
    `?since=${now / 1000 - 60}.000000000&until=1795000000.000000000&filter=type%3Doom&filter=container%3Dweb`,
  );
  t.throws(() => eventsQuery({ since: 'soon', filters: [] }, now), { instanceOf: CliError, message: /invalid --since/ });
  const badFilter = t.throws(() => eventsQuery({ filters: ['oom'] }, now), { instanceOf: CliError });
  t.is(badFilter?.exitCode, 125);
});
