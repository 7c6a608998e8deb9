import test from 'ava';
import { ImageError } from '../../server/runtime/images/errors';
import { idPrefix, normalizeReference, parseReference } from '../../server/runtime/images/reference';

test('names get the latest tag; tags and registry hosts are kept', (t) => {
  t.is(normalizeReference('busybox'), 'busybox:latest');
  t.is(normalizeReference('busybox:1.36'), 'busybox:1.36');
  t.is(normalizeReference('team/app:v2'), 'team/app:v2');
  t.is(normalizeReference('registry.example:5000/team/app'), 'registry.example:5000/team/app:latest');
  t.is(normalizeReference('localhost/app:x'), 'localhost/app:x');
  t.deepEqual(parseReference('my_app-1.2:tag_1.0-rc'), { repository: 'my_app-1.2', tag: 'tag_1.0-rc' });
});

test('malformed names are refused with invalid_reference', (t) => {
  for (const bad of ['', 'Busybox', '../x', 'a/../b', 'x:', 'x:-bad', 'busybox@sha256:abc', 'a//b', `${'a'.repeat(256)}`, 'a b', 'x\n']) {
    const error = t.throws(() => normalizeReference(bad), { instanceOf: ImageError }, JSON.stringify(bad));
    t.is(error?.code, 'invalid_reference');
    t.is(error?.status, 400);
  }
});

test('image IDs are recognised in full, with sha256: and as prefixes', (t) => {
  const hex = 'a'.repeat(64);
  t.is(idPrefix(hex), hex);
  t.is(idPrefix(`sha256:${hex}`), hex);
  t.is(idPrefix('abc123'), 'abc123');
  t.is(idPrefix('busybox'), undefined);
  t.is(idPrefix('g'), undefined);
});
