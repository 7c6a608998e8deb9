/**
 * The template engine as docker's listings use it: a row is a *XxxContext whose columns are
 * methods, a header is a map[string]string run with docker's header functions. Expected texts,
 * including error messages, are what Go's text/template printed with docker's template
 * functions for the same templates and data.
 */
import test from 'ava';
import { goJsonStringMap } from '../../server/cli/format/gojson';
import { DOCKER_HEADER_FUNCTIONS, NO_FIELD, TemplateError, executeTemplate, parseTemplate, stringMap, type GoStruct } from '../../server/cli/format/gotemplate';

const ROW = { ID: 'abc123', Name: 'web <1> & \u2028', CPUPerc: '1.00%' };
const SLASHED = { ID: 'def456', Name: 'db/main', CPUPerc: '--' };
const HEADERS = stringMap({ ID: 'CONTAINER ID', Name: 'NAME', CPUPerc: 'CPU %' });

function rowData(fields: Record<string, string>): GoStruct {
  return {
    kind: 'struct',
    type: '*main.row',
    fieldNames: [],
    field: () => NO_FIELD,
    method: (name) => (fields[name] === undefined ? undefined : { kind: 'func', params: [], call: () => fields[name]! }),
    toJson: () => goJsonStringMap(fields),
    toText: () => goJsonStringMap(fields),
  };
}

const run = (source: string, fields: Record<string, string> = ROW): string => executeTemplate(parseTemplate(source), rowData(fields));
const header = (source: string): string => {
  try {
    return executeTemplate(parseTemplate(source), HEADERS, { functions: DOCKER_HEADER_FUNCTIONS });
  } catch (err) {
    return (err as TemplateError).partial;
  }
};

test('fields, literal text and tabs', (t) => {
  t.is(run('{{.ID}}'), 'abc123');
  t.is(run('{{.ID}}\t{{.Name}}', SLASHED), 'def456\tdb/main');
  t.is(run('{{ .Name }}', SLASHED), 'db/main');
  t.is(run('{{.CPUPerc}}\n{{.ID}}'), '1.00%\nabc123');
});

test('json of the row is one object with sorted keys, HTML-escaped as json.Marshal does', (t) => {
  t.is(run('{{json .}}'), '{"CPUPerc":"1.00%","ID":"abc123","Name":"web \\u003c1\\u003e \\u0026 \\u2028"}');
});

test('json of a single value is not HTML-escaped (docker sets SetEscapeHTML(false))', (t) => {
  t.is(run('{{json .Name}}'), '"web <1> & \\u2028"');
  t.is(run('{{json .Name}} {{json .ID}}', SLASHED), '"db/main" "def456"');
  t.is(run('{{json .ID | upper}}'), '"ABC123"');
});

test("docker's string functions", (t) => {
  t.is(run('{{upper .Name}}', SLASHED), 'DB/MAIN');
  t.is(run('{{.Name | upper}}', SLASHED), 'DB/MAIN');
  t.is(run('{{lower "ABC"}}'), 'abc');
  t.is(run('{{title .Name}}', SLASHED), 'Db/Main');
  t.is(run('{{pad .Name 2 3}}|', SLASHED), '  db/main   |');
  t.is(run('{{truncate .Name 3}}', SLASHED), 'db/');
  t.is(run('{{truncate .Name 100}}', SLASHED), 'db/main');
  t.is(run('{{join (split .Name "/") ","}}', SLASHED), 'db,main');
  t.is(run('{{split .Name "/"}}', SLASHED), '[db main]');
  t.is(run('{{(upper .Name)}}', SLASHED), 'DB/MAIN');
  t.is(run('{{"lit"}}{{42}}{{`raw\\t`}}'), 'lit42raw\\t');
});

test('trim markers and comments', (t) => {
  t.is(run('a {{- .ID}}'), 'aabc123');
  t.is(run('{{.ID -}}  b'), 'abc123b');
  t.is(run('{{/* comment */}}x'), 'x');
  t.is(run('{{- /* comment */ -}}  x'), 'x');
  t.is(run('{{-3}}'), '-3');
});

test('an unknown field fails at execution with Go\'s message and position', (t) => {
  const cases: Array<[string, string]> = [
    ['{{.Foo}}', 'template: :1:2: executing "" at <.Foo>: can\'t evaluate field Foo in type *main.row'],
    ['x {{.Foo}}', 'template: :1:4: executing "" at <.Foo>: can\'t evaluate field Foo in type *main.row'],
    ['line1\n  {{.Foo}}', 'template: :2:4: executing "" at <.Foo>: can\'t evaluate field Foo in type *main.row'],
    ['{{.ID.Foo}}', 'template: :1:5: executing "" at <.ID.Foo>: can\'t evaluate field Foo in type string'],
  ];
  for (const [source, message] of cases) {
    const err = t.throws(() => run(source), { instanceOf: TemplateError });
    t.is(err?.message, message);
    t.is(err?.phase, 'exec');
  }
});

test('argument errors read as Go\'s', (t) => {
  const cases: Array<[string, string]> = [
    ['{{upper .Name 1}}', 'template: :1:2: executing "" at <upper>: wrong number of args for upper: want 1 got 2'],
    ['{{upper 1}}', 'template: :1:8: executing "" at <1>: expected string; found 1'],
    ['{{pad .Name "a" 1}}', 'template: :1:12: executing "" at <"a">: expected integer; found "a"'],
    ['{{.Name | truncate 2}}', 'template: :1:19: executing "" at <2>: expected string; found 2'],
    ['{{json}}', 'template: :1:2: executing "" at <json>: wrong number of args for json: want 1 got 0'],
    ['{{"a" .ID}}', 'template: :1:2: executing "" at <"a">: can\'t give argument to non-function "a"'],
    ['{{.ID "a"}}', 'template: :1:2: executing "" at <.ID>: wrong number of args for ID: want 0 got 1'],
    ['{{.ID | .Name}}', 'template: :1:8: executing "" at <.Name>: wrong number of args for Name: want 0 got 1'],
  ];
  for (const [source, message] of cases) {
    t.is(t.throws(() => run(source))?.message, message, source);
  }
});

test('parse errors read as Go\'s', (t) => {
  const cases: Array<[string, string]> = [
    ['{{foo .Name}}', 'template: :1: function "foo" not defined'],
    ['{{"\\q"}}', 'template: :1: invalid syntax'],
    ['{{.Name', 'template: :1: unclosed action'],
    ['{{}}', 'template: :1: missing value for command'],
    ['{{"unterminated}}', 'template: :1: unterminated quoted string'],
  ];
  for (const [source, message] of cases) {
    const err = t.throws(() => parseTemplate(source), { instanceOf: TemplateError });
    t.is(err?.message, message, source);
    t.is(err?.phase, 'parse');
  }
});

test('control structures and variables work on rows', (t) => {
  t.is(run('{{if eq .ID "abc123"}}yes{{else}}no{{end}} {{$n := .Name}}{{$n | upper}}', SLASHED), 'no DB/MAIN');
  t.is(run('{{range split .Name "/"}}<{{.}}>{{end}}', SLASHED), '<db><main>');
});

test('header mode: fields become headers and the functions leave them intact (pad excepted)', (t) => {
  t.is(header('{{.ID}}\t{{.Name}}'), 'CONTAINER ID\tNAME');
  t.is(header('{{upper .Name}}: {{.CPUPerc | lower}}'), 'NAME: CPU %');
  t.is(header('{{json .Name}} {{truncate .ID 3}} {{join (split .Name "/") ","}}'), 'NAME CONTAINER ID NAME');
  t.is(header('{{pad .Name 2 3}}|'), '  NAME   |');
  t.is(header('{{.ID}} {{.Missing}}'), 'CONTAINER ID <no value>');
});

test('header mode: a failing action keeps what came before it, as docker ignores header errors', (t) => {
  t.is(header('{{json .}}'), '');
  t.is(header('{{.ID}} {{json .}} {{.Name}}'), 'CONTAINER ID ');
  t.is(header('{{.ID.Foo}}'), '');
});

