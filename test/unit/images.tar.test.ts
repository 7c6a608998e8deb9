import { Readable } from 'node:stream';
import test from 'ava';
import { ImageError } from '../../server/runtime/images/errors';
import { BLOCK_BYTES, packTar, parseHeaderBlock, parsePaxRecords, readTarEntries, tarHeader } from '../../server/runtime/images/tar';

async function entriesOf(archive: Buffer, chunkBytes = 700): Promise<Array<{ name: string; type: string; content: string; linkname: string; mode: number }>> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < archive.length; i += chunkBytes) chunks.push(archive.subarray(i, i + chunkBytes));
  const result = [];
  for await (const { header, body } of readTarEntries(Readable.from(chunks))) {
    const parts: Buffer[] = [];
    for await (const chunk of body()) parts.push(chunk);
    result.push({ name: header.name, type: header.type, content: Buffer.concat(parts).toString(), linkname: header.linkname, mode: header.mode });
  }
  return result;
}

test('an archive written by packTar reads back entry by entry, whatever the chunking', async (t) => {
  const archive = packTar([
    { name: 'dir/', type: 'directory', mode: 0o750 },
    { name: 'dir/file.txt', type: 'file', content: 'hello\n', mode: 0o644 },
    { name: 'dir/big', type: 'file', content: 'x'.repeat(3000) },
    { name: 'dir/link', type: 'symlink', linkname: 'file.txt' },
    { name: 'dir/hard', type: 'hardlink', linkname: 'dir/file.txt' },
  ]);
  t.is(archive.length % BLOCK_BYTES, 0);
  for (const chunkBytes of [1, 511, 512, 700, 100_000]) {
    const entries = await entriesOf(archive, chunkBytes);
    t.deepEqual(
      entries.map(({ name, type }) => `${type}:${name}`),
      ['directory:dir/', 'file:dir/file.txt', 'file:dir/big', 'symlink:dir/link', 'hardlink:dir/hard'],
    );
    t.is(entries[1]!.content, 'hello\n');
    t.is(entries[2]!.content.length, 3000);
    t.is(entries[3]!.linkname, 'file.txt');
    t.is(entries[0]!.mode, 0o750);
  }
});

test('entries whose body is not read are skipped correctly', async (t) => {
  const archive = packTar([
    { name: 'a', type: 'file', content: 'A'.repeat(1500) },
    { name: 'b', type: 'file', content: 'B' },
  ]);
  const names: string[] = [];
  for await (const { header } of readTarEntries(Readable.from([archive]))) names.push(header.name);
  t.deepEqual(names, ['a', 'b']);
});

test('long names and link targets go through ustar prefix or a pax header and come back whole', async (t) => {
  const deep = `${'d'.repeat(90)}/${'e'.repeat(90)}/${'f'.repeat(90)}.txt`;
  const flat = 'n'.repeat(180);
  const target = `/${'t'.repeat(150)}`;
  const entries = await entriesOf(
    packTar([
      { name: deep, type: 'file', content: 'deep' },
      { name: flat, type: 'file', content: 'flat' },
      { name: 'link', type: 'symlink', linkname: target },
    ]),
  );
  t.deepEqual(
    entries.map((e) => [e.name, e.content, e.linkname]),
    [
      [deep, 'deep', ''],
      [flat, 'flat', ''],
      ['link', '', target],
    ],
  );
});

test('pax records are parsed by their length prefix', (t) => {
  const records = parsePaxRecords(Buffer.from('30 path=some/long/name/here.x\n19 linkpath=target\n'));
  t.is(records.get('path'), 'some/long/name/here.x');
  t.is(records.get('linkpath'), 'target');
});

test('a header with a bad checksum is not a tar archive', (t) => {
  const block = tarHeader({ name: 'x', type: 'file', size: 1 });
  block[0] = 'y'.charCodeAt(0);
  const error = t.throws(() => parseHeaderBlock(block), { instanceOf: ImageError });
  t.is(error?.code, 'bad_archive');
  t.is(parseHeaderBlock(Buffer.alloc(BLOCK_BYTES)), null, 'a zero block ends the archive');
});

test('a truncated archive is reported', async (t) => {
  const archive = packTar([{ name: 'a', type: 'file', content: 'A'.repeat(2000) }]);
  await t.throwsAsync(entriesOf(archive.subarray(0, 1024)), { instanceOf: ImageError, message: /truncated/ });
});

test('GNU base-256 sizes are read', (t) => {
  const block = tarHeader({ name: 'big', type: 'file', size: 0 });
  // 8 GiB in base-256: 0x80 marker, value in the remaining bytes of the 12-byte field.
  block.fill(0, 124, 136);
  block[124] = 0x80;
  block.writeUIntBE(8 * 1024 * 1024 * 1024, 130, 6);
  let sum = 0;
  block.fill(0x20, 148, 156);
  for (const byte of block) sum += byte;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  t.is(parseHeaderBlock(block)!.size, 8 * 1024 * 1024 * 1024);
});
