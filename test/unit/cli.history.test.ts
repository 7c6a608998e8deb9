import test from 'ava';
import { compileListingFormat } from '../../server/cli/format/listing';
import { DEFAULT_HISTORY_TABLE_FORMAT, HISTORY_COLUMN_REGISTRY, type HistoryRow } from '../../server/cli/columns/history';
import { imageHistory } from '../../server/runtime/images/history';
import type { ImageRecord } from '../../server/runtime/images/types';
import { ImageError } from '../../server/runtime/images/errors';

const SPEC = { columns: HISTORY_COLUMN_REGISTRY, defaultTable: DEFAULT_HISTORY_TABLE_FORMAT, typeName: '*image.historyContext' };
const NOW_MS = Date.parse('2026-12-07T12:00:00Z');
const ID = `sha256:${'ab'.repeat(32)}`;

function image(layers: string[]): ImageRecord {
  return { version: 1, id: ID, repoTags: ['app:1'], layers, config: {}, createdAt: '2026-12-07T11:00:00Z', importedAt: '2026-12-07T11:00:00Z', sizeBytes: 0 };
}

const CONFIG = JSON.stringify({
  history: [
    { created: '2026-12-05T12:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:0123456789abcdef in / ' },
    { created: '2026-12-05T12:00:01Z', created_by: '/bin/sh -c #(nop)\tCMD ["sh"]', empty_layer: true },
    { created: '2026-12-07T11:59:00Z', created_by: 'sh', comment: 'a commit' },
  ],
});

test('history rows: newest first, empty layers size 0, sizes by diff ID, the ID on the newest row only', (t) => {
  const rows = imageHistory(image(['sha256:a', 'sha256:b']), CONFIG, (diffId) => (diffId === 'sha256:a' ? 4_510_000 : 12));
  t.deepEqual(
    rows.map((row) => [row.Id, row.Size, row.Comment, row.Tags]),
    [
      [ID, 12, 'a commit', ['app:1']],
      ['<missing>', 0, '', null],
      ['<missing>', 4_510_000, '', null],
    ],
  );
  t.is(rows[2]!.Created, Date.parse('2026-12-05T12:00:00Z') / 1000);
});

test('a config with more layer-making steps than layers is refused, as docker refuses it', (t) => {
  const error = t.throws(() => imageHistory(image(['sha256:a']), CONFIG, () => 0), { instanceOf: ImageError });
  t.regex(error!.message, /more layer-making steps/);
});

test('the table as docker prints it: 12-character IDs, "ago", CREATED BY cut at 45 columns with tabs as spaces', (t) => {
  const entries = imageHistory(image(['sha256:a', 'sha256:b']), CONFIG, (diffId) => (diffId === 'sha256:a' ? 4_510_000 : 12));
  const rows: HistoryRow[] = entries.map((entry) => ({ entry, human: true }));
  const out = compileListingFormat('table', SPEC).render(rows, { trunc: true, nowMs: NOW_MS }).split('\n');
  t.regex(out[0]!, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
  t.regex(out[1]!, /^abababababab\s+About a minute ago\s+sh\s+12B\s+a commit$/);
  t.regex(out[2]!, /^<missing>\s+2 days ago\s+\/bin\/sh -c #\(nop\) CMD \["sh"\]\s+0B\s*$/);
  t.true(out[3]!.includes('/bin/sh -c #(nop) ADD file:0123456789abcdef …'), out[3]); // 44 characters and the ellipsis
  t.regex(out[3]!, /4\.51MB/);
  const plain = compileListingFormat('{{.CreatedSince}} {{.Size}}', SPEC).render(entries.map((entry) => ({ entry, human: false })), { trunc: true, nowMs: NOW_MS });
  t.is(plain.split('\n')[0], '2026-12-07T11:59:00Z 12');
});
