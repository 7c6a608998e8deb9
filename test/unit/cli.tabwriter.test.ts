/**
 * Go's text/tabwriter as docker configures it (minwidth 10, tabwidth 1, padding 3, ' ').
 * Expected outputs were produced by Go's text/tabwriter with the same settings.
 */
import test from 'ava';
import { DOCKER_TABLE, displayWidth, tabwrite } from '../../server/cli/format/tabwriter';

test('columns are as wide as their widest cell plus padding, at least minwidth', (t) => {
  const input = 'CONTAINER ID\tNAME\tCPU %\nabc123def456\tweb\t0.00%\n';
  t.is(tabwrite(input), 'CONTAINER ID   NAME      CPU %\nabc123def456   web       0.00%\n');
});

test('the last cell of a line is not padded, so lines have no trailing spaces', (t) => {
  t.is(tabwrite('a\tb\n'), 'a         b\n');
  t.is(tabwrite('a\tb'), 'a         b');
});

test('a tab-terminated last cell is part of the column; an unterminated one at the very end is not', (t) => {
  // Go only terminates the unfinished final cell at Flush when it is non-empty.
  t.is(tabwrite('a\t\n'), 'a         \n');
  t.is(tabwrite('a\t'), 'a');
});

test('a column is a run of consecutive lines; a line without the cell splits it (Go doc example)', (t) => {
  const input = 'aaaa\tbbb\td\naa\tb\tdd\na\t\naa\tcccc\teee\n';
  t.is(tabwrite(input), 'aaaa      bbb       d\naa        b         dd\na         \naa        cccc      eee\n');
});

test('an empty line ends every column', (t) => {
  t.is(tabwrite('longer-cell-text-here\tx\n\na\tb\n'), 'longer-cell-text-here   x\n\na         b\n');
});

test('the docker stats table lays out like docker', (t) => {
  const input = [
    'CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS',
    'b95a83497c91\tawesome_brattain\t0.28%\t5.629MiB / 1.952GiB\t0.28%\t916B / 0B\t147kB / 0B\t9',
    '',
  ].join('\n');
  t.is(
    tabwrite(input, DOCKER_TABLE),
    'CONTAINER ID   NAME               CPU %     MEM USAGE / LIMIT     MEM %     NET I/O     BLOCK I/O    PIDS\n' +
      'b95a83497c91   awesome_brattain   0.28%     5.629MiB / 1.952GiB   0.28%     916B / 0B   147kB / 0B   9\n',
  );
});

test('widths count terminal columns: accents are one, CJK two, combining marks none', (t) => {
  t.is(displayWidth('é'), 1);
  t.is(displayWidth('e\u0301'), 1);
  t.is(displayWidth('日本'), 4);
  t.is(tabwrite('日本\tx\nab\ty\n'), '日本      x\nab        y\n');
});

test('other settings are honoured', (t) => {
  t.is(tabwrite('a\tb\nccc\td\n', { minWidth: 0, padding: 1, padChar: '.' }), 'a...b\nccc.d\n');
});
