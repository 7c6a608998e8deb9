/**
 * Go's text/template semantics, table-driven. The first table's expected outputs and error
 * messages are what Go itself printed: each template was run through docker 28.2.2's CLI
 * (Go 1.24 text/template with docker's template functions) as
 * `docker context inspect default -f TEMPLATE`, whose data DATA models field for field
 * (a struct with Name and an Endpoints map of structs). The later tests cover what that data
 * cannot show (missingkey, JSON documents, listing rows), derived from Go's documentation.
 */
import test from 'ava';
import {
  DOCKER_HEADER_FUNCTIONS,
  TemplateError,
  executeTemplate,
  fromJson,
  goMap,
  goStruct,
  parseTemplate,
  stringMap,
  type GoValue,
  type MissingKey,
} from '../../server/cli/format/gotemplate';

const DATA = goStruct('context.contextWithTLSListing', {
  Name: 'default',
  Endpoints: goMap({ docker: goStruct('context.EndpointMetaBase', { Host: 'unix:///var/run/docker.sock', SkipTLSVerify: false }) }),
});

type Expected = string | { error: string };

function run(source: string, data: GoValue = DATA, missingKey?: MissingKey): Expected {
  try {
    return executeTemplate(parseTemplate(source), data, missingKey ? { missingKey } : {});
  } catch (error) {
    if (error instanceof TemplateError) return { error: error.message };
    throw error;
  }
}

// [template, Go's output or Go's error]
const GO_TABLE: ReadonlyArray<readonly [string, Expected]> = [
  ["{{printf \"%05s|%-5s|%5.1s|\" \"ab\" \"ab\" \"xyz\"}}", "000ab|ab   |    x|"],
  ["{{printf \"%d %5d %-5d| %05d %+d %x %X %#x %o %#o %b %c %q %U %#U\" 42 42 42 -42 42 255 255 255 8 8 5 65 65 65 65}}", "42    42 42   | -0042 +42 ff FF 0xff 10 010 101 A 'A' U+0041 U+0041 'A'"],
  ["{{printf \"%v %f %.2f %e %g %G %E %8.3f %-8.2f| %+.1e %08.3f\" 1.5 3.14159 2.675 123456.789 0.000012 1e21 1e-7 3.14159 2.5 12345.678 -3.14159}}", "1.5 3.141590 2.67 1.234568e+05 1.2e-05 1E+21 1.000000E-07    3.142 2.50    | +1.2e+04 -003.142"],
  ["{{printf \"%v %v %v\" 1e6 123456.0 1234567.0}}", "1e+06 123456 1.234567e+06"],
  ["{{printf \"%s %d %v %t\" 5 \"x\" nil 1}}", "%!s(int=5) %!d(string=x) <nil> %!t(int=1)"],
  ["{{printf \"%d\"}}|{{printf \"%d\" 1 2}}|{{printf \"%\"}}|{{printf \"%z\" 3}}", "%!d(MISSING)|1%!(EXTRA int=2)|%!(NOVERB)|%!z(int=3)"],
  ["{{printf \"%q %x %X % x %#q\" \"a\\\"b\" \"hi\" \"hi\" \"hi\" \"ab\"}}", "\"a\\\"b\" 6869 6869 68 69 `ab`"],
  ["{{printf \"%v %d %s %q\" (split \"a,b\" \",\") (split \"a,b\" \",\") (split \"a,b\" \",\") (split \"a,b\" \",\")}}", "[a b] [%!d(string=a) %!d(string=b)] [a b] [\"a\" \"b\"]"],
  ["{{printf \"%*d|%-*d|%.*f\" 5 1 4 2 2 3.14159}}", "    1|2   |3.14"],
  ["{{printf \"%T %T %T %T %T %T\" 1 1.5 \"s\" true nil .Endpoints}}", "int float64 string bool <nil> map[string]interface {}"],
  ["{{printf \"%6.2v|%t|%v\" 3.14159 true false}}", "   3.1|true|false"],
  ["{{if 1}}a{{else}}b{{end}}{{if 0}}a{{else if \"\"}}b{{else}}c{{end}}", "ac"],
  ["{{with $x := \"hi\"}}{{.}}{{$x}}{{end}}{{with \"\"}}x{{else with \"y\"}}{{.}}{{end}}", "hihiy"],
  ["{{range $i, $v := split \"a,b,c\" \",\"}}{{$i}}{{$v}}{{end}}", "0a1b2c"],
  ["{{range split \"a,b,c\" \",\"}}{{if eq . \"b\"}}{{continue}}{{end}}{{.}}{{end}}|{{range split \"a,b,c\" \",\"}}{{if eq . \"b\"}}{{break}}{{end}}{{.}}{{end}}", "ac|a"],
  ["{{range .Endpoints}}{{.Host}}{{end}}{{range $k, $v := .Endpoints}}{{$k}}={{$v.SkipTLSVerify}}{{end}}", "unix:///var/run/docker.sockdocker=false"],
  ["{{range slice (split \"a\" \",\") 1}}x{{else}}empty{{end}}", "empty"],
  ["{{define \"T\"}}[{{.}}]{{end}}{{template \"T\" \"a\"}}{{template \"T\" 1}}{{block \"B\" 2}}<{{.}}>{{end}}", "[a][1]<2>"],
  ["{{.Name | printf \"%s!\" | printf \"%q\"}}", "\"default!\""],
  ["{{and 1 0 2}}{{and 1 2}}{{or 0 \"\" 3}}{{or 0 \"\"}}{{not 0}}{{not \"a\"}}", "023truefalse"],
  ["{{eq 1 1}}{{eq 1 2 1}}{{ne \"a\" \"b\"}}{{lt 1 2}}{{le 2 2}}{{gt \"b\" \"a\"}}{{ge 1.5 2.5}}", "truetruetruetruetruetruefalse"],
  ["{{eq \"a\" 1}}", { error: "template: :1:2: executing \"\" at <eq \"a\" 1>: error calling eq: incompatible types for comparison" }],
  ["{{lt true false}}", { error: "template: :1:2: executing \"\" at <lt true false>: error calling lt: invalid type for comparison" }],
  ["{{lt 1 1.5}}", { error: "template: :1:2: executing \"\" at <lt 1 1.5>: error calling lt: incompatible types for comparison" }],
  ["{{eq (split \"a\" \",\") (split \"a\" \",\")}}", { error: "template: :1:2: executing \"\" at <eq (split \"a\" \",\") (split \"a\" \",\")>: error calling eq: non-comparable type [a]: []string" }],
  ["{{eq 1}}", { error: "template: :1:2: executing \"\" at <eq 1>: error calling eq: missing argument for comparison" }],
  ["{{len \"héllo\"}} {{len (split \"a,b\" \",\")}} {{len .Endpoints}}", "6 2 1"],
  ["{{len 3}}", { error: "template: :1:2: executing \"\" at <len 3>: error calling len: len of type int" }],
  ["{{len .Endpoints.nosuch}}", { error: "template: :1:2: executing \"\" at <len .Endpoints.nosuch>: error calling len: reflect: call of reflect.Value.Type on zero Value" }],
  ["{{index (split \"a,b\" \",\") 1}}{{index \"abc\" 1}}{{index .Endpoints \"docker\"}}{{index .Endpoints \"zzz\"}}", "b98{unix:///var/run/docker.sock false}<no value>"],
  ["{{index (split \"a,b\" \",\") 2}}", { error: "template: :1:2: executing \"\" at <index (split \"a,b\" \",\") 2>: error calling index: reflect: slice index out of range" }],
  ["{{index (split \"a,b\" \",\") 5}}", { error: "template: :1:2: executing \"\" at <index (split \"a,b\" \",\") 5>: error calling index: index out of range: 5" }],
  ["{{index (split \"a,b\" \",\") \"x\"}}", { error: "template: :1:2: executing \"\" at <index (split \"a,b\" \",\") \"x\">: error calling index: cannot index slice/array with type string" }],
  ["{{index 1 1}}", { error: "template: :1:2: executing \"\" at <index 1 1>: error calling index: can't index item of type int" }],
  ["{{index nil 1}}", { error: "template: :1:2: executing \"\" at <index nil 1>: error calling index: index of untyped nil" }],
  ["{{index .Endpoints 1}}", { error: "template: :1:2: executing \"\" at <index .Endpoints 1>: error calling index: value has type int; should be string" }],
  ["{{slice \"abcdef\" 1 3}}{{slice \"abc\"}}{{slice (split \"a,b,c\" \",\") 1}}", "bcabc[b c]"],
  ["{{slice \"abc\" 2 1}}", { error: "template: :1:2: executing \"\" at <slice \"abc\" 2 1>: error calling slice: invalid slice index: 2 > 1" }],
  ["{{slice \"abc\" 1 2 3}}", { error: "template: :1:2: executing \"\" at <slice \"abc\" 1 2 3>: error calling slice: cannot 3-index slice a string" }],
  ["{{slice 5 1}}", { error: "template: :1:2: executing \"\" at <slice 5 1>: error calling slice: can't slice item of type int" }],
  ["{{print 1 2 \"a\" \"b\" 3 nil}}|{{println 1 \"a\"}}|{{print}}", "1 2ab3 <nil>|1 a\n|"],
  ["{{html \"<a href='x'>&\\\"</a>\"}}{{js \"a'b\\\"c<d>=&\\\\\"}}{{urlquery \"a b&c=d/é\"}}", "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;a\\'b\\\"c\\u003Cd\\u003E\\u003D\\u0026\\\\a+b%26c%3Dd%2F%C3%A9"],
  ["{{html .Endpoints.nosuch}} {{html 1 2}}", "&lt;no value&gt; 1 2"],
  ["{{call .Name}}", { error: "template: :1:2: executing \"\" at <call .Name>: error calling call: non-function .Name of type string" }],
  ["{{call nil}}", { error: "template: :1:2: executing \"\" at <call nil>: error calling call: call of nil" }],
  ["{{json .Name}}{{json 1}}{{json 1.5}}{{json (split \"a<b\" \",\")}}{{json nil}}{{json .Endpoints}}", "\"default\"11.5[\"a<b\"]null{\"docker\":{\"Host\":\"unix:///var/run/docker.sock\",\"SkipTLSVerify\":false}}"],
  ["{{upper \"abc\"}}{{lower \"ABC\"}}{{title \"hello world-x\"}}{{join (split \"a,b\" \",\") \"+\"}}{{pad \"x\" 1 2}}|{{truncate \"abcdef\" 3}}{{truncate \"ab\" 5}}", "ABCabcHello World-Xa+b x  |abcab"],
  ["{{pad \"x\" -1 2}}", { error: "template: :1:2: executing \"\" at <pad \"x\" -1 2>: error calling pad: strings: negative Repeat count" }],
  ["{{truncate \"abc\" -1}}", { error: "template: :1:2: executing \"\" at <truncate \"abc\" -1>: error calling truncate: runtime error: slice bounds out of range [:-1]" }],
  ["{{.NoSuch}}", { error: "template: :1:2: executing \"\" at <.NoSuch>: can't evaluate field NoSuch in type context.contextWithTLSListing" }],
  ["{{.Endpoints.nosuch}}{{.Endpoints.nosuch.deeper}}", "<no value><no value>"],
  ["{{.Name.Foo}}", { error: "template: :1:7: executing \"\" at <.Name.Foo>: can't evaluate field Foo in type string" }],
  ["{{.Name 1}}", { error: "template: :1:2: executing \"\" at <.Name>: Name has arguments but cannot be invoked as function" }],
  ["{{\"a\" 1}}", { error: "template: :1:2: executing \"\" at <\"a\">: can't give argument to non-function \"a\"" }],
  ["{{nil}}", { error: "template: :1:2: executing \"\" at <nil>: nil is not a command" }],
  ["{{1 | printf \"%d\"}}", "1"],
  ["{{\"x\" | printf \"%s %s\" \"y\"}}", "y x"],
  ["{{upper 1}}", { error: "template: :1:8: executing \"\" at <1>: expected string; found 1" }],
  ["{{upper .Endpoints}}", { error: "template: :1:8: executing \"\" at <.Endpoints>: wrong type for value; expected string; got map[string]interface {}" }],
  ["{{upper nil}}", { error: "template: :1:8: executing \"\" at <nil>: cannot assign nil to string" }],
  ["{{truncate \"abc\" \"x\"}}", { error: "template: :1:17: executing \"\" at <\"x\">: expected integer; found \"x\"" }],
  ["{{truncate \"abc\" 1.0}}{{truncate \"abc\" 'a'}}", "aabc"],
  ["{{truncate \"abc\" 1.5}}", { error: "template: :1:17: executing \"\" at <1.5>: expected integer; found 1.5" }],
  ["{{join \"a\" \",\"}}", { error: "template: :1:7: executing \"\" at <\"a\">: can't handle \"a\" for arg of type []string" }],
  ["{{join .Endpoints \",\"}}", { error: "template: :1:7: executing \"\" at <.Endpoints>: wrong type for value; expected []string; got map[string]interface {}" }],
  ["{{upper}}", { error: "template: :1:2: executing \"\" at <upper>: wrong number of args for upper: want 1 got 0" }],
  ["{{upper \"a\" \"b\"}}", { error: "template: :1:2: executing \"\" at <upper>: wrong number of args for upper: want 1 got 2" }],
  ["{{printf}}", { error: "template: :1:2: executing \"\" at <printf>: wrong number of args for printf: want at least 1 got 0" }],
  ["{{$x := 1}}{{$x.Foo}}", { error: "template: :1:15: executing \"\" at <$x.Foo>: can't evaluate field Foo in type int" }],
  ["{{template \"nope\"}}", { error: "template: :1:11: executing \"\" at <{{template \"nope\"}}>: template \"nope\" not defined" }],
  ["{{range 3}}{{.}}{{end}}", "012"],
  ["{{range \"abc\"}}{{.}}{{end}}", { error: "template: :1:8: executing \"\" at <\"abc\">: range can't iterate over abc" }],
  ["{{range $i, $v := 3}}{{end}}", { error: "template: :1:18: executing \"\" at <3>: can't use 3 to iterate over more than one variable" }],
  ["{{if .Endpoints.nosuch}}y{{else}}n{{end}}", "n"],
  ["{{with .Endpoints.docker}}{{.Host}}{{end}}", "unix:///var/run/docker.sock"],
  ["{{0x1F}} {{0o17}} {{017}} {{0b101}} {{1_000}} {{'a'}} {{'\\n'}} {{1.5e3}} {{-2}} {{+3}} {{.5}} {{1e3}} {{0x1p4}}", "31 15 15 5 1000 97 10 1500 -2 3 0.5 1000 16"],
  ["{{9223372036854775807}}", "9223372036854775807"],
  ["{{9223372036854775808}}", { error: "template: :1:2: executing \"\" at <9223372036854775808>: 9223372036854775808 overflows int" }],
  ["{{99999999999999999999}}", { error: "template: :1: integer overflow: \"99999999999999999999\"" }],
  ["{{089}}", { error: "template: :1: integer overflow: \"089\"" }],
  ["{{\"\\x41\\u00e9\\t\"}}{{`raw\\n`}}", "Aé\traw\\n"],
  ["{{\"\\q\"}}", { error: "template: :1: invalid syntax" }],
  ["{{'ab'}}", { error: "template: :1: malformed character constant: 'ab'" }],
  ["a {{- \"b\" -}} c {{- /* x */ -}} d", "abcd"],
  ["{{/* unclosed", { error: "template: :1: unclosed comment" }],
  ["{{/* x */ }}", { error: "template: :1: comment ends before closing delimiter" }],
  ["{{if}}", { error: "template: :1: missing value for if" }],
  ["{{end}}", { error: "template: :1: unexpected {{end}}" }],
  ["{{else}}", { error: "template: :1: unexpected {{else}}" }],
  ["{{if 1}}", { error: "template: :1: unexpected EOF" }],
  ["{{range $i, $v, $w := .}}{{end}}", { error: "template: :1: too many declarations in range" }],
  ["{{$x, $y := 1}}", { error: "template: :1: too many declarations in command" }],
  ["{{$nope}}", { error: "template: :1: undefined variable \"$nope\"" }],
  ["{{foo}}", { error: "template: :1: function \"foo\" not defined" }],
  ["{{.Name | 1}}", { error: "template: :1: non executable command in pipeline stage 2" }],
  ["{{.Name |}}", "default"],
  ["{{(1}}", { error: "template: :1: unclosed left paren" }],
  ["{{)}}", { error: "template: :1: unexpected right paren" }],
  ["{{.Name\"x\"}}", { error: "template: :1: bad character U+0022 '\"'" }],
  ["{{break}}", { error: "template: :1: {{break}} outside {{range}}" }],
  ["{{\"unterminated}}", { error: "template: :1: unterminated quoted string" }],
  ["{{`unterminated}}", { error: "template: :1: unterminated raw quoted string" }],
  ["{{1 2}}", { error: "template: :1:2: executing \"\" at <1>: can't give argument to non-function 1" }],
  ["{{.Name\n}}", "default"],
  ["{{define \"a\"}}x{{end}}{{define \"a\"}}y{{end}}", { error: "template: :1: template: multiple definition of template \"a\"" }],
  ["{{define \"a\"}}x{{else}}{{end}}", { error: "template: :1: unexpected {{else}} in define clause" }],
  ["{{template 1}}", { error: "template: :1: unexpected \"1\" in template clause" }],
  ["{{(1).Foo}}", { error: "template: :1:3: executing \"\" at <1>: can't evaluate field Foo in type int" }],
  ["{{(.Name).Foo}}", { error: "template: :1:3: executing \"\" at <.Name>: can't evaluate field Foo in type string" }],
  ["{{\"a\".x}}", { error: "template: :1: unexpected . after term \"\\\"a\\\"\"" }],
  ["{{$.Name}} {{$.Endpoints.docker.Host}}", "default unix:///var/run/docker.sock"],
  ["{{if eq .Name \"default\" \"other\"}}yes{{end}}", "yes"],
  ["{{printf \"%v\" .Endpoints}}|{{.Endpoints}}", "map[docker:{unix:///var/run/docker.sock false}]|map[docker:{unix:///var/run/docker.sock false}]"],
  ["{{printf \"%5.1f|%-7.3e|%+d|% d\" 3.14159 1234.5 5 5}}", "  3.1|1.234e+03|+5| 5"],
  ["{{print 1.0 2.5 1e20 1e21 0.0001 0.00001}}", "1 2.5 1e+20 1e+21 0.0001 1e-05"],
  ["{{and}}", { error: "template: :1:2: executing \"\" at <and>: wrong number of args for and: want at least 1 got 0" }],
  ["{{or 0 | not}}", "true"],
  ["{{1 | and 0}}{{1 | or 0}}", "01"],
  ["{{.Name | len}}", "7"],
  ["{{with .Endpoints.docker}}{{$.Name}}{{end}}", "default"],
  ["{{range $k, $v := .Endpoints}}{{$k}}{{end}}{{$k := 5}}{{$k}}", "docker5"],
  ["{{.Endpoints.docker.Host | urlquery}}", "unix%3A%2F%2F%2Fvar%2Frun%2Fdocker.sock"],
  ["{{len}}", { error: "template: :1:2: executing \"\" at <len>: wrong number of args for len: want 1 got 0" }],
  ["{{not 1 2}}", { error: "template: :1:2: executing \"\" at <not>: wrong number of args for not: want 1 got 2" }],
  ["{{index}}", { error: "template: :1:2: executing \"\" at <index>: wrong number of args for index: want at least 1 got 0" }],
  ["{{printf \"%d %d\" 1}}", "1 %!d(MISSING)"],
  ["{{printf \"%!\" 1}}", "%!!(int=1)"],
  ["{{printf \"%.3s|%.0d|%5.0f\" \"abcdef\" 0 2.5}}", "abc||    2"],
  ["{{printf \"%x %X %o\" -255 255 -8}}", "-ff FF -10"],
  ["{{printf \"%08.3f|%-08d|%+08d\" 3.14159 5 5}}", "0003.142|5       |+0000005"],
  ["{{printf \"%c%c\" 0x1F600 72}}", "😀H"],
  ["{{printf \"%q\" 0x1F600}}", "'😀'"],
  ["{{printf \"%e\" 0.0}}{{printf \" %g\" 100000.0}}{{printf \" %g\" 1000000.0}}", "0.000000e+00 100000 1e+06"],
  ["{{define \"T\"}}{{.NoSuch}}{{end}}{{template \"T\" .}}", { error: "template: :1:16: executing \"T\" at <.NoSuch>: can't evaluate field NoSuch in type context.contextWithTLSListing" }],
  ["{{define \"T\"}}{{.}}{{end}}{{template \"T\"}}", "<no value>"],
  ["{{template \"T\" .NoSuch}}{{define \"T\"}}{{end}}", { error: "template: :1:15: executing \"\" at <.NoSuch>: can't evaluate field NoSuch in type context.contextWithTLSListing" }],
  ["{{with 0}}a{{else with 0}}b{{else}}c{{end}}", "c"],
  ["{{if 0}}a{{else if 0}}b{{else if 1}}c{{end}}", "c"],
  ["{{range $i, $e := .Endpoints}}{{$i}}:{{$e.Host}}{{end}}", "docker:unix:///var/run/docker.sock"],
  ["{{range $e := .Endpoints}}{{$e.Host}}{{end}}", "unix:///var/run/docker.sock"],
  ["{{$i := 0}}{{range $i = split \"a,b\" \",\"}}{{end}}{{$i}}", "b"],
  ["{{$a := 0}}{{$b := 0}}{{range $a, $b = split \"x,y\" \",\"}}{{end}}{{$a}}{{$b}}", "1y"],
  ["{{range split \"\" \",\"}}[{{.}}]{{end}}", "[]"],
  ["{{range $x := split \"a,b\" \",\"}}{{$x}}{{end}}{{$x}}", { error: "template: :1: undefined variable \"$x\"" }],
  ["{{if 1}}{{$y := 2}}{{end}}{{$y}}", { error: "template: :1: undefined variable \"$y\"" }],
  ["{{\"a\" | printf \"%s-%s\" \"b\" | upper}}", "B-A"],
  ["{{printf \"%s\" (index .Endpoints \"docker\").Host}}", "unix:///var/run/docker.sock"],
  ["{{(index .Endpoints \"docker\").Host}}", "unix:///var/run/docker.sock"],
  ["{{(index .Endpoints \"nosuch\").Host}}", "<no value>"],
  ["{{index .Endpoints \"nosuch\" \"x\"}}", { error: "template: :1:2: executing \"\" at <index .Endpoints \"nosuch\" \"x\">: error calling index: index of nil pointer" }],
  ["{{.Endpoints.docker.Host.X}}", { error: "template: :1:12: executing \"\" at <.Endpoints.docker.Host.X>: can't evaluate field X in type string" }],
  ["{{.Endpoints.docker.Host 1}}", { error: "template: :1:12: executing \"\" at <.Endpoints.docker.Host>: Host has arguments but cannot be invoked as function" }],
  ["{{.Endpoints.docker 1}}", { error: "template: :1:12: executing \"\" at <.Endpoints.docker>: docker is not a method but has arguments" }],
  ["{{{{.Name}}}}", { error: "template: :1: unexpected \"{\" in command" }],
  ["{{.Name}}}}", "default}}"],
  ["{{.Name -}}\n   x {{- .Name}}", "defaultxdefault"],
  ["{{- .Name -}}", "default"],
  ["{{-3}} {{- 3 -}} x", "-33x"],
  ["{{.Name}}{{/* a comment */}}{{- /* trimmed */}}  {{.Name}}", "default  default"],
  ["{{/*no space*/-}}", { error: "template: :1: comment ends before closing delimiter" }],
  ["{{\"a\"\n}}", "a"],
  ["{{if 1}}\n{{.NoSuch", { error: "template: :2: unclosed action" }],
  ["{{range .Endpoints}}{{else}}{{end}}{{range .Endpoints.zz}}x{{else}}none{{end}}", "none"],
  ["{{len .Name}}{{len \"\"}}", "70"],
  ["{{slice \"héllo\" 1 3}}", "é"],
  ["{{index \"é\" 0}}", "195"],
  ["{{eq .Endpoints.nosuch nil}}", "true"],
  ["{{eq .Endpoints.nosuch \"x\"}}", "false"],
  ["{{eq nil nil}}", "true"],
  ["{{ne 1 \"a\"}}", { error: "template: :1:2: executing \"\" at <ne 1 \"a\">: error calling ne: incompatible types for comparison" }],
  ["{{le 1.5 1.5}}{{gt 2 1}}{{ge \"a\" \"b\"}}", "truetruefalse"],
  ["{{not}}", { error: "template: :1:2: executing \"\" at <not>: wrong number of args for not: want 1 got 0" }],
  ["{{printf \"%v|%s\" nil nil}}", "<nil>|%!s(<nil>)"],
  ["{{println}}x", "\nx"],
  ["{{print \"a\" 1 2 \"b\"}}", "a1 2b"],
  ["{{js \"\\u2028é\\x01\"}}", "\\u2028é\\u0001"],
  ["{{urlquery \"~-_.\" \"a\"}}", "~-_.a"],
  ["{{html}}", ""],
  ["{{json}}", { error: "template: :1:2: executing \"\" at <json>: wrong number of args for json: want 1 got 0" }],
  ["{{split \"abc\" \"\"}}", "[a b c]"],
  ["{{split \"\" \",\"}}{{len (split \"\" \",\")}}", "[]1"],
  ["{{title \"ünïcode wörld\"}}", "Ünïcode Wörld"],
  ["{{upper \"straße\"}}", "STRAßE"],
  ["{{truncate \"héllo\" 2}}", "h�"],
  ["{{pad \"\" 2 2}}|", "|"],
  ["{{.Name | pad 1 1}}", { error: "template: :1:14: executing \"\" at <1>: expected string; found 1" }],
  ["{{pad .Name 1}}", { error: "template: :1:2: executing \"\" at <pad>: wrong number of args for pad: want 3 got 2" }],
  ["{{$x := 1}}{{$x 2}}", { error: "template: :1:13: executing \"\" at <$x>: can't give argument to non-function $x" }],
  ["{{1 .Name}}", { error: "template: :1:2: executing \"\" at <1>: can't give argument to non-function 1" }],
  ["{{. 1}}", { error: "template: :1:2: executing \"\" at <.>: can't give argument to non-function ." }],
  ["{{(.Name) 1}}", { error: "template: :1:2: executing \"\" at <(.Name) 1>: can't give argument to non-function .Name" }],
  ["{{.Name | (upper)}}", { error: "template: :1:2: executing \"\" at <.Name>: can't give argument to non-function upper" }],
  ["{{nil.Foo}}", { error: "template: :1: unexpected . after term \"nil\"" }],
  ["{{.Name | .Name}}", { error: "template: :1:10: executing \"\" at <.Name>: Name has arguments but cannot be invoked as function" }],
  ["{{$x := \"a\"}}{{$x = 1}}{{$x}}", "1"],
  ["{{$x = 1}}", { error: "template: :1:7: executing \"\" at <1>: undefined variable: $x" }],
  ["{{range $i, $v := split \"a\" \",\"}}{{$i}}{{end}}{{range $v := split \"a\" \",\"}}{{$v}}{{end}}", "0a"],
  ["{{with $x := \"a\"}}{{$x}}{{end}}{{$x}}", { error: "template: :1: undefined variable \"$x\"" }],
  ["{{if $x := 0}}{{else}}{{$x}}{{end}}", "0"],
  ["{{block \"b\" .Name}}{{.}}{{end}}", "default"],
  ["{{block 1 .}}{{end}}", { error: "template: :1: unexpected \"1\" in block clause" }],
  ["{{define \"x\"}}a{{end}}{{define \"x\"}}  {{end}}{{template \"x\"}}", "a"],
  ["{{printf \"%6.2f%%\" 99.5}}", " 99.50%"],
  ["{{printf \"%-10s|\" \"ab\"}}{{printf \"%10.3s|\" \"abcdef\"}}", "ab        |       abc|"],
  ["{{printf \"%#v\" \"a\"}}", "\"a\""],
  ["{{printf \"%+q\" \"é\"}}", "\"\\u00e9\""],
  ["{{printf \"%08s\" \"ab\"}}{{printf \"%-08s|\" \"ab\"}}", "000000abab      |"],
  ["{{printf \"%t\" \"x\"}}", "%!t(string=x)"],
  ["{{printf \"%.2f\" 1}}", "%!f(int=01)"],
  ["{{printf \"%d\" 1.0}}", "%!d(float64=1)"],
  ["{{printf \"%3c|%-4q|\" 65 66}}", "  A|'B' |"],
  ["{{printf \"%05.1f|%5.3d|%.0f\" -2.35 7 0.5}}", "-02.4|  007|0"],
  ["{{printf \"%g %g %g %G\" 1e-5 123.456 1e100 1e-10}}", "1e-05 123.456 1e+100 1E-10"],
  ["{{printf \"%.3g|%.10g|%g\" 1234.5678 1.0 0.1}}", "1.23e+03|1|0.1"],
  ["{{printf \"%v\" 100000000.0}}{{printf \" %v\" 12345678.9}}", "1e+08 1.23456789e+07"],
  ["{{printf \"%s\" .Endpoints.docker}}", "{unix:///var/run/docker.sock %!s(bool=false)}"],
  ["{{printf \"%d\" .Endpoints}}", "map[%!d(string=docker):{%!d(string=unix:///var/run/docker.sock) %!d(bool=false)}]"],
  ["{{if .Name}}\nx{{.Name", { error: "template: :2: unclosed action" }],
  ["{{.Name | printf \"%s\"\n}}", "default"],
  ["{{(1\n}}", { error: "template: :2: unclosed left paren in action started at :1" }],
  ["{{- /* c */ -}}", ""],
  ["{{- /* c */}}", ""],
  ["{{/* c */ -}}", ""],
  ["{{ /* c */ }}", { error: "template: :1: unexpected \"/\" in command" }],
  ["{{range $i, $v := .Endpoints}}{{$i}}{{end}}{{$i}}", { error: "template: :1: undefined variable \"$i\"" }],
  ["{{define \"a\"}}{{$x}}{{end}}", { error: "template: :1: undefined variable \"$x\"" }],
  ["{{$x := 1}}{{define \"a\"}}{{$x}}{{end}}", { error: "template: :1: undefined variable \"$x\"" }],
  ["{{with $x := 1}}{{end}}{{$x}}", { error: "template: :1: undefined variable \"$x\"" }],
  ["{{range $x := 1}}{{$x}}{{end}}", "0"],
  ["{{range $x, $y := .Endpoints}}{{$y.Host}}{{end}}", "unix:///var/run/docker.sock"],
  ["{{range $x, := .Endpoints}}{{end}}", { error: "template: :1: range can only initialize variables" }],
  ["{{range $x 1}}{{end}}", { error: "template: :1: undefined variable \"$x\"" }],
  ["{{$x := 1 | printf \"%d\"}}{{$x}}", "1"],
  ["{{$x := \"a\"}}{{$x := \"b\"}}{{$x}}", "b"],
  ["{{if true}}{{$x := 1}}{{$x}}{{end}}", "1"],
  ["{{else if 1}}", { error: "template: :1: unexpected {{else}}" }],
  ["{{if 1}}{{else}}{{else}}{{end}}", { error: "template: :1: expected end; found {{else}}" }],
  ["{{if 1}}a{{end}}{{end}}", { error: "template: :1: unexpected {{end}}" }],
  ["{{with}}{{end}}", { error: "template: :1: missing value for with" }],
  ["{{range}}{{end}}", { error: "template: :1: missing value for range" }],
  ["{{template}}", { error: "template: :1: unexpected \"}}\" in template clause" }],
  ["{{template \"a\" 1 2}}", { error: "template: :1:11: executing \"\" at <{{template \"a\" 1 2}}>: template \"a\" not defined" }],
  ["{{block \"a\"}}{{end}}", { error: "template: :1: missing value for block clause" }],
  ["{{continue}}", { error: "template: :1: {{continue}} outside {{range}}" }],
  ["{{range .Endpoints}}{{break 1}}{{end}}", { error: "template: :1: unexpected \"1\" in {{break}}" }],
  ["{{define \"a\" 1}}{{end}}", { error: "template: :1: unexpected \"1\" in define clause" }],
  ["{{define \"a\"}}", { error: "template: :1: unexpected EOF" }],
  ["{{.Name}}{{define \"b\"}}b{{end}}{{template \"b\"}}", "defaultb"],
  ["{{printf \"%s\" .Name | len}}", "7"],
  ["{{\"a\" | len}}", "1"],
  ["{{. | len}}", { error: "template: :1:6: executing \"\" at <len>: error calling len: len of type context.contextWithTLSListing" }],
  ["{{index .Endpoints.docker \"Host\"}}", { error: "template: :1:2: executing \"\" at <index .Endpoints.docker \"Host\">: error calling index: can't index item of type context.EndpointMetaBase" }],
  ["{{len .Endpoints.docker}}", { error: "template: :1:2: executing \"\" at <len .Endpoints.docker>: error calling len: len of type context.EndpointMetaBase" }],
  ["{{.Endpoints.docker | len}}", { error: "template: :1:22: executing \"\" at <len>: error calling len: len of type context.EndpointMetaBase" }],
  ["{{printf \"%v\" (eq .Name \"default\")}}", "true"],
  ["{{eq .Endpoints .Endpoints}}", { error: "template: :1:2: executing \"\" at <eq .Endpoints .Endpoints>: error calling eq: non-comparable type map[docker:{unix:///var/run/docker.sock %!s(bool=false)}]: map[string]interface {}" }],
  ["{{eq .Endpoints.docker .Endpoints.docker}}", "true"],
  ["{{eq (split \"a\" \",\") nil}}", "false"],
  ["{{not .Endpoints}}{{not .Endpoints.nope}}", "falsetrue"],
  ["{{and .Endpoints.nope 1}}|{{or .Endpoints.nope}}", "<no value>|<no value>"],
  ["{{print .Endpoints.nope}}", "<nil>"],
  ["{{printf \"%v|%d\" .Endpoints.nope .Endpoints.nope}}", "<nil>|%!d(<nil>)"],
  ["{{json .Endpoints.nope}}", "null"],
  ["{{upper .Endpoints.nope}}", { error: "template: :1:18: executing \"\" at <.Endpoints.nope>: invalid value; expected string" }],
  ["{{join .Endpoints.nope \",\"}}", ""],
  ["{{index .Endpoints.nope 1}}", { error: "template: :1:2: executing \"\" at <index .Endpoints.nope 1>: error calling index: index of untyped nil" }],
  ["{{slice .Endpoints.nope}}", { error: "template: :1:2: executing \"\" at <slice .Endpoints.nope>: error calling slice: slice of untyped nil" }],
  ["{{.Endpoints.nope | printf \"%v\"}}", "<nil>"],
  ["{{$x := .Endpoints.nope}}{{$x}}", "<no value>"],
  ["{{range .Endpoints.nope}}x{{else}}y{{end}}", "y"],
  ["{{with .Endpoints.nope}}x{{else}}y{{end}}", "y"],
  ["{{1.5 | printf \"%v\"}}", "1.5"],
  ["{{printf \"%v\" 1.0}}{{1.0}} {{1e0}} {{0x10}} {{-0}} {{0.0}} {{-0.0}}", "11 1 16 0 0 -0"],
  ["{{printf \"%T %T %T\" 'a' 0x1p1 1e2}}", "int float64 float64"],
  ["{{truncate \"abc\" 0x2}}", "ab"],
  ["{{truncate \"abc\" 2.0}}", "ab"],
  ["{{printf \"%d\" 'a'}}", "97"],
  ["{{.Name.Foo.Bar}}", { error: "template: :1:7: executing \"\" at <.Name.Foo.Bar>: can't evaluate field Foo in type string" }],
  ["{{$.NoSuch}}", { error: "template: :1:3: executing \"\" at <$.NoSuch>: can't evaluate field NoSuch in type context.contextWithTLSListing" }],
  ["{{$x := .}}{{$x.NoSuch}}", { error: "template: :1:15: executing \"\" at <$x.NoSuch>: can't evaluate field NoSuch in type context.contextWithTLSListing" }],
  ["{{(.Endpoints).docker.Host}}", "unix:///var/run/docker.sock"],
  ["{{(index .Endpoints \"docker\").Nope}}", { error: "template: :1:20: executing \"\" at <\"docker\">: can't evaluate field Nope in type context.EndpointMetaBase" }],
  ["{{printf \"%s\" (index .Endpoints \"docker\")}}", "{unix:///var/run/docker.sock %!s(bool=false)}"],
  ["{{html \"a\" 1}} {{html nil}} {{js 1 \"x\"}} {{urlquery}}", "a1 &lt;no value&gt; 1x "],
  ["{{print \"a\" nil \"b\"}}", "a<nil>b"],
  ["{{println nil 1}}", "<nil> 1\n"],
  ["{{printf \"%s %s\" \"a\"}}", "a %!s(MISSING)"],
  ["{{printf \"%-5d|%-5.2f|%5t|%-5t|\" 3 1.234 true false}}", "3    |1.23 | true|false|"],
  ["{{printf \"%+v\" 1}} {{printf \"% d|%+ d\" 5 5}}", "1  5|+5"],
  ["{{printf \"%#o %#b %#X\" 8 5 255}}", "010 0b101 0XFF"],
  ["{{printf \"%o %O\" 64 64}}", "100 0o100"],
  ["{{printf \"%x\" \"é\"}}", "c3a9"],
  ["{{printf \"%q\" \"\\x00é\\u2028\"}}", "\"\\x00é\\u2028\""],
  ["{{printf \"%+q\" \"a\\u00e9\"}}", "\"a\\u00e9\""],
  ["{{printf \"%#q\" \"a\\tb\"}}", "`a\tb`"],
  ["{{printf \"%5q|%-6q|\" \"a\" \"b\"}}", "  \"a\"|\"b\"   |"],
  ["{{printf \"%.1q\" \"abc\"}}", "\"a\""],
  ["{{printf \"%c|%5c|\" 'x' 'y'}}", "x|    y|"],
  ["{{printf \"%e|%E|%.0e|%.3e\" 0.000123 123456.0 5.5 -0.0001234}}", "1.230000e-04|1.234560E+05|6e+00|-1.234e-04"],
  ["{{printf \"%f|%.0f|%.1f|%.3f\" 1e20 2.5 0.05 -1.0005}}", "100000000000000000000.000000|2|0.1|-1.000"],
  ["{{printf \"%g|%g|%g|%.2g|%.0g\" 1e-4 1e-5 123456789.0 0.000123 5.0}}", "0.0001|1e-05|1.23456789e+08|0.00012|5"],
  ["{{printf \"%10.4g|%-10g|\" 3.14159265 2.5}}", "     3.142|2.5       |"],
  ["{{printf \"%v %v\" 2.5e-7 1e20}}", "2.5e-07 1e+20"],
  ["{{.Endpoints.docker.Nope}}", { error: "template: :1:12: executing \"\" at <.Endpoints.docker.Nope>: can't evaluate field Nope in type interface {}" }],
  ["{{.Endpoints.docker.Host.X}}", { error: "template: :1:12: executing \"\" at <.Endpoints.docker.Host.X>: can't evaluate field X in type string" }],
  ["{{(index .Endpoints \"docker\").Nope}}", { error: "template: :1:20: executing \"\" at <\"docker\">: can't evaluate field Nope in type context.EndpointMetaBase" }],
];

test(`Go's text/template: ${GO_TABLE.length} templates give Go's output or Go's error`, (t) => {
  for (const [source, expected] of GO_TABLE) t.deepEqual(run(source), expected, source);
});

const DOC = fromJson({
  Id: 'abc',
  Name: '/web',
  State: { Status: 'running', Pid: 42, Running: true, ExitCode: 0, Health: null },
  Config: { Env: ['A=1', 'B=2'], Cmd: ['sh', '-c', 'x'], Labels: { b: '2', a: '1' }, Entrypoint: null },
  Mounts: [
    { Source: '/src', Destination: '/dst', RW: true },
    { Source: '/s2', Destination: '/d2', RW: false },
  ],
  NetworkSettings: { Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }], '443/tcp': null } },
  Size: 1.5,
});

// [template, output or error, missingkey option]
const JSON_TABLE: ReadonlyArray<readonly [string, Expected, MissingKey?]> = [
  ['{{.State.Pid}} {{.Name}} {{.State.Running}}', '42 /web true'],
  ['{{.NoSuch}}', '<no value>'],
  ['{{.NoSuch}}', { error: 'template: :1:2: executing "" at <.NoSuch>: map has no entry for key "NoSuch"' }, 'error'],
  ['{{.State.NoSuch}}', { error: 'template: :1:8: executing "" at <.State.NoSuch>: map has no entry for key "NoSuch"' }, 'error'],
  ['{{.NoSuch.Deeper}}', { error: 'template: :1:9: executing "" at <.NoSuch.Deeper>: map has no entry for key "NoSuch"' }, 'error'],
  ['{{.NoSuch}}', '<no value>', 'zero'],
  ['{{.NoSuch.Deeper}}', '<no value>'],
  // A null in a map[string]interface {} is a nil interface: Go's pipeline digs into it and finds
  // no value; fmt, given it as an argument, prints <nil>.
  ['{{.State.Health}}', '<no value>'],
  ['{{$h := .State.Health}}{{$h}} {{printf "%v" .State.Health}} {{print .State.Health}}', '<no value> <nil> <nil>'],
  ['{{.State.Health.Status}}', { error: 'template: :1:8: executing "" at <.State.Health.Status>: nil pointer evaluating interface {}.Status' }],
  ['{{index .Config.Labels "a"}}{{index .Config.Labels "zz"}}', '1<no value>'],
  ['{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}', 'a=1;b=2;'],
  ['{{range .Config.Labels}}{{.}}{{end}}', '12'],
  ['{{.Config.Labels}}', 'map[a:1 b:2]'],
  ['{{join .Config.Env ","}}', 'A=1,B=2'],
  ['{{len .Config.Env}} {{len .Mounts}} {{len .Config.Labels}} {{len .Name}}', '2 2 2 4'],
  ['{{index .Config.Env 1}}', 'B=2'],
  ['{{index .Config.Env 2}}', { error: 'template: :1:2: executing "" at <index .Config.Env 2>: error calling index: reflect: slice index out of range' }],
  ['{{index .Config.Env 3}}', { error: 'template: :1:2: executing "" at <index .Config.Env 3>: error calling index: index out of range: 3' }],
  ['{{range $i, $m := .Mounts}}{{$i}}:{{$m.Source}}->{{.Destination}}{{if not .RW}} ro{{end}} {{end}}', '0:/src->/dst 1:/s2->/d2 ro '],
  ['{{range .Mounts}}{{if .RW}}{{break}}{{end}}{{end}}done', 'done'],
  ['{{(index .Mounts 1).Source}}', '/s2'],
  ['{{range $p, $b := .NetworkSettings.Ports}}{{$p}}{{if $b}}={{(index $b 0).HostPort}}{{end}} {{end}}', '443/tcp 80/tcp=8080 '],
  ['{{with .State}}{{.Status}} {{$.Id}}{{end}}', 'running abc'],
  ['{{$name := .Name}}{{range .Mounts}}{{$name}}{{end}}', '/web/web'],
  ['{{if and .State.Running (eq .State.ExitCode 0)}}ok{{end}}', 'ok'],
  ['{{if or .State.Health .State.Running}}y{{end}}', 'y'],
  ['{{eq .State.Pid 42}} {{gt .State.Pid 41}} {{eq .State.Status "running" "exited"}}', 'true true true'],
  ['{{.Size}} {{printf "%.2f" .Size}}', '1.5 1.50'],
  ['{{json .Config.Env}} {{json .Config.Labels}} {{json .State.Health}}', '["A=1","B=2"] {"a":"1","b":"2"} null'],
  ['{{json .Mounts}}', '[{"Destination":"/dst","RW":true,"Source":"/src"},{"Destination":"/d2","RW":false,"Source":"/s2"}]'],
  ['{{.Config.Entrypoint}}', '<no value>'],
  ['{{range .Config.Entrypoint}}x{{else}}none{{end}}', 'none'],
  ['{{slice .Config.Cmd 1}}', '[-c x]'],
  ['{{.Name | printf "%s|%s" .Id}}', 'abc|/web'],
  // What a map[string]interface {} holds has the static type interface {}, which Go's message names.
  ['{{.Id.X}}', { error: "template: :1:5: executing \"\" at <.Id.X>: can't evaluate field X in type interface {}" }],
  ['{{.State.Pid.X}}', { error: "template: :1:8: executing \"\" at <.State.Pid.X>: can't evaluate field X in type interface {}" }],
];

test('JSON documents as map[string]interface {}: missingkey default, zero and error', (t) => {
  for (const [source, expected, missingKey] of JSON_TABLE) t.deepEqual(run(source, DOC, missingKey), expected, `${source} (${missingKey ?? 'default'})`);
});

test('JSON objects as structs: a missing field is an error whatever missingkey says', (t) => {
  const typed = fromJson({ Name: '/web', Config: { Labels: { a: '1' } } }, { structType: (key) => (key === 'Labels' ? undefined : `types.${key || 'ContainerJSON'}`) });
  t.deepEqual(run('{{.NoSuch}}', typed), { error: 'template: :1:2: executing "" at <.NoSuch>: can\'t evaluate field NoSuch in type types.ContainerJSON' });
  t.deepEqual(run('{{.Config.Labels.zz}}|{{.Config.Labels.a}}', typed), '<no value>|1');
  t.deepEqual(run('{{.Config}}', typed), '{map[a:1]}');
  t.deepEqual(run('{{printf "%+v" .Config}}', typed), '{Labels:map[a:1]}');
});

test('header mode: docker\'s header functions keep the header text, pad still pads', (t) => {
  const headers = stringMap({ ID: 'CONTAINER ID', Name: 'NAME' });
  const header = (source: string): string => executeTemplate(parseTemplate(source), headers, { functions: DOCKER_HEADER_FUNCTIONS });
  t.is(header('{{.ID}}\t{{upper .Name}} {{json .Name}} {{truncate .ID 3}} {{join (split .Name "/") ","}}'), 'CONTAINER ID\tNAME NAME CONTAINER ID NAME');
  t.is(header('{{pad .Name 2 3}}|{{.Missing}}'), '  NAME   |<no value>');
  const err = t.throws(() => header('{{.ID}} {{json .}} {{.Name}}'), { instanceOf: TemplateError });
  t.is(err?.partial, 'CONTAINER ID ');
  t.is(err?.message, 'template: :1:15: executing "" at <.>: wrong type for value; expected string; got map[string]string');
});

test('parse and execution errors carry their phase; execution keeps what was written', (t) => {
  const parseError = t.throws(() => parseTemplate('{{.A'), { instanceOf: TemplateError });
  t.is(parseError?.phase, 'parse');
  const execError = t.throws(() => executeTemplate(parseTemplate('a{{.B}}b{{.C.D}}'), fromJson({ B: 'x', C: null })), { instanceOf: TemplateError });
  t.is(execError?.phase, 'exec');
  t.is(execError?.partial, 'axb');
  t.is(execError?.message, 'template: :1:12: executing "" at <.C.D>: nil pointer evaluating interface {}.D');
});

test('a function named break or continue is a function, not the keyword (as Go lexes it)', (t) => {
  const functions = new Map([...parseTemplate('').functions, ['break', { kind: 'func' as const, params: [], call: () => 'fn' }]]);
  t.is(executeTemplate(parseTemplate('{{break}}', { functions }), undefined), 'fn');
  t.deepEqual(run('{{range split "a" ","}}{{break}}{{end}}x'), 'x');
});

test('{{template}} recursion stops at the depth limit with an error, not a crash', (t) => {
  const result = run('{{define "r"}}{{template "r" .}}{{end}}{{template "r" .}}');
  t.regex((result as { error: string }).error, /exceeded maximum template depth/);
});

test('call: a function value is called with checked arguments; methods take arguments', (t) => {
  const add = { kind: 'func' as const, params: ['int', 'int'] as const, call: ([a, b]: GoValue[]) => (a as bigint) + (b as bigint) };
  const label = { kind: 'func' as const, params: ['string'] as const, call: ([k]: GoValue[]) => `label:${k as string}` };
  const data = goStruct('main.T', { Add: add, Name: 'x' }, { method: (name) => (name === 'Label' ? label : undefined) });
  t.deepEqual(run('{{call .Add 1 2}} {{.Label "tier"}} {{"a" | .Label}}', data), '3 label:tier label:a');
  t.deepEqual(run('{{call .Add 1}}', data), { error: 'template: :1:2: executing "" at <call .Add 1>: error calling call: wrong number of args for .Add: got 1 want 2' });
  t.deepEqual(run('{{call .Add 1 "b"}}', data), { error: 'template: :1:2: executing "" at <call .Add 1 "b">: error calling call: arg 1: value has type string; should be int' });
  t.deepEqual(run('{{call .Name}}', data), { error: 'template: :1:2: executing "" at <call .Name>: error calling call: non-function .Name of type string' });
  t.deepEqual(run('{{.Label}}', data), { error: 'template: :1:2: executing "" at <.Label>: wrong number of args for Label: want 1 got 0' });
  t.deepEqual(run('{{.Label 1}}', data), { error: 'template: :1:9: executing "" at <1>: expected string; found 1' });
  t.deepEqual(run('{{.Add}}', data), { error: 'template: :1:2: executing "" at <{{.Add}}>: can\'t print {{.Add}} of type func(int, int)' });
});
