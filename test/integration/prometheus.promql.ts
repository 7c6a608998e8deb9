/**
 * Just enough PromQL and Grafana-dashboard reading for the dashboard and rule tests: a lexer that
 * finds the metric names an expression reads and its top-level comparison, the expressions of a
 * Grafana dashboard, template-variable substitution, and the `expr:` fields of a rules file.
 *
 * Not a PromQL parser: Prometheus itself parses every expression in the end-to-end test. This only
 * has to be right about the shapes the dashboard and rules use, and its unit tests pin those.
 */

export type TokenKind = 'identifier' | 'number' | 'string' | 'selector' | 'range' | 'open' | 'close' | 'comma' | 'operator';

export interface Token {
  kind: TokenKind;
  text: string;
  /** Offset of the token's first character in the expression. */
  start: number;
  /** Offset just past the token. */
  end: number;
}

export class PromqlLexError extends Error {
  override name = 'PromqlLexError';
  constructor(message: string, readonly expression: string, readonly offset: number) {
    super(`${message} at offset ${offset} of ${JSON.stringify(expression)}`);
  }
}

const COMPARISONS: ReadonlySet<string> = new Set(['==', '!=', '>', '<', '>=', '<=']);
const TWO_CHAR_OPERATORS: ReadonlySet<string> = new Set(['==', '!=', '>=', '<=', '=~', '!~']);
const ONE_CHAR_OPERATORS = '+-*/%^<>=@:';

/** Words that are never metric names where they appear (binary-operator and modifier keywords, special numbers). */
const KEYWORDS: ReadonlySet<string> = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan']);
/** Keywords followed by a parenthesised list of label names. */
const LABEL_LIST_KEYWORDS: ReadonlySet<string> = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
/** Aggregations may put `by (...)`/`without (...)` between their name and their argument list. */
const AGGREGATIONS: ReadonlySet<string> = new Set([
  'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio',
]);

/** Consumes a quoted string starting at `i` (the quote); returns the offset just past it. */
function skipString(expression: string, i: number): number {
  const quote = expression[i]!;
  let j = i + 1;
  while (j < expression.length) {
    const c = expression[j]!;
    if (c === '\\' && quote !== '`') {
      j += 2;
      continue;
    }
    if (c === quote) return j + 1;
    j += 1;
  }
  throw new PromqlLexError('unterminated string', expression, i);
}

/** Consumes `{...}` or `[...]` starting at `i`, strings inside included. */
function skipBracketed(expression: string, i: number, close: string): number {
  let j = i + 1;
  while (j < expression.length) {
    const c = expression[j]!;
    if (c === '"' || c === "'" || c === '`') {
      j = skipString(expression, j);
      continue;
    }
    if (c === close) return j + 1;
    j += 1;
  }
  throw new PromqlLexError(`missing "${close}"`, expression, i);
}

/** `$name` or `${name}` at the start of the text. */
const GRAFANA_VARIABLE = /^\$(\{[a-zA-Z0-9_:]+\}|[a-zA-Z0-9_]+)/;

export function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const push = (kind: TokenKind, end: number): void => {
    tokens.push({ kind, text: expression.slice(i, end), start: i, end });
    i = end;
  };
  while (i < expression.length) {
    const c = expression[i]!;
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === '#') {
      const newline = expression.indexOf('\n', i);
      i = newline === -1 ? expression.length : newline + 1;
    } else if (c === '"' || c === "'" || c === '`') {
      push('string', skipString(expression, i));
    } else if (c === '{') {
      push('selector', skipBracketed(expression, i, '}'));
    } else if (c === '[') {
      push('range', skipBracketed(expression, i, ']'));
    } else if (c === '(') {
      push('open', i + 1);
    } else if (c === ')') {
      push('close', i + 1);
    } else if (c === ',') {
      push('comma', i + 1);
    } else if (/[0-9.]/.test(c)) {
      // Numbers, hex, exponents and durations (5m, 1h30m) alike.
      let j = i + 1;
      while (j < expression.length && /[0-9a-zA-Z_.]/.test(expression[j]!)) j += 1;
      if (/[eE]$/.test(expression.slice(i, j)) && /[+-]/.test(expression[j] ?? '')) {
        j += 1;
        while (j < expression.length && /[0-9]/.test(expression[j]!)) j += 1;
      }
      push('number', j);
    } else if (/[a-zA-Z_:]/.test(c)) {
      let j = i + 1;
      while (j < expression.length && /[a-zA-Z0-9_:]/.test(expression[j]!)) j += 1;
      push('identifier', j);
    } else if (c === '$' && GRAFANA_VARIABLE.test(expression.slice(i))) {
      // A Grafana variable where PromQL takes a value (`offset $__range`): it stands for a duration.
      push('number', i + GRAFANA_VARIABLE.exec(expression.slice(i))![0].length);
    } else if (TWO_CHAR_OPERATORS.has(expression.slice(i, i + 2))) {
      push('operator', i + 2);
    } else if (ONE_CHAR_OPERATORS.includes(c)) {
      push('operator', i + 1);
    } else {
      throw new PromqlLexError(`unexpected character ${JSON.stringify(c)}`, expression, i);
    }
  }
  return tokens;
}

export interface MetricReference {
  name: string;
  start: number;
  end: number;
}

/** Every metric name the expression selects, in order of appearance (a name used twice appears twice). */
export function metricReferences(expression: string): MetricReference[] {
  const tokens = tokenize(expression);
  const references: MetricReference[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.kind !== 'identifier') continue;
    const word = token.text.toLowerCase();
    const next = tokens[i + 1];
    if (LABEL_LIST_KEYWORDS.has(word) && next?.kind === 'open') {
      // Skip the label names up to the matching ")".
      let depth = 0;
      let j = i + 1;
      for (; j < tokens.length; j++) {
        if (tokens[j]!.kind === 'open') depth += 1;
        else if (tokens[j]!.kind === 'close' && --depth === 0) break;
      }
      i = j;
      continue;
    }
    if (KEYWORDS.has(word)) continue;
    if (next?.kind === 'open') continue; // a function or aggregation call
    if (AGGREGATIONS.has(word) && next?.kind === 'identifier' && (next.text === 'by' || next.text === 'without')) continue;
    references.push({ name: token.text, start: token.start, end: token.end });
  }
  return references;
}

export function metricNames(expression: string): string[] {
  return [...new Set(metricReferences(expression).map((reference) => reference.name))];
}

/** The expression with one metric reference replaced by `name`. */
export function withMetricRenamed(expression: string, reference: MetricReference, name: string): string {
  return expression.slice(0, reference.start) + name + expression.slice(reference.end);
}

export interface Comparison {
  /** What is compared: the expression without its comparison and threshold. */
  signal: string;
  operator: string;
  threshold: string;
}

/**
 * Splits "<signal> <comparison> <threshold>" at its only comparison outside parentheses. Alert
 * expressions in rules.yml are written this way so the signal can be checked for data on its own
 * (a threshold that is not crossed legitimately returns nothing). Throws unless there is exactly
 * one top-level comparison.
 */
export function splitComparison(expression: string): Comparison {
  let depth = 0;
  const found: Token[] = [];
  for (const token of tokenize(expression)) {
    if (token.kind === 'open') depth += 1;
    else if (token.kind === 'close') depth -= 1;
    else if (depth === 0 && token.kind === 'operator' && COMPARISONS.has(token.text)) found.push(token);
  }
  if (found.length !== 1) {
    throw new Error(`expected exactly one top-level comparison, found ${found.length} in ${JSON.stringify(expression)}`);
  }
  const operator = found[0]!;
  return {
    signal: expression.slice(0, operator.start).trim(),
    operator: operator.text,
    threshold: expression.slice(operator.end).trim(),
  };
}

// --- Grafana -------------------------------------------------------------------------------------

export interface GrafanaTarget {
  expr?: string;
  refId?: string;
  instant?: boolean;
  datasource?: { type?: string; uid?: string };
}

export interface GrafanaPanel {
  id?: number;
  type: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  gridPos?: { h: number; w: number; x: number; y: number };
  targets?: GrafanaTarget[];
  panels?: GrafanaPanel[];
}

export interface GrafanaVariable {
  name: string;
  type: string;
  query?: string | { query?: string };
  definition?: string;
  datasource?: { type?: string; uid?: string };
  allValue?: string;
  multi?: boolean;
  includeAll?: boolean;
}

export interface GrafanaDashboard {
  title: string;
  uid?: string;
  schemaVersion: number;
  panels: GrafanaPanel[];
  templating: { list: GrafanaVariable[] };
}

export interface DashboardQuery {
  panel: string;
  refId: string;
  expr: string;
  instant: boolean;
}

/** Every panel, the panels of collapsed rows included. */
export function dashboardPanels(dashboard: GrafanaDashboard): GrafanaPanel[] {
  const all: GrafanaPanel[] = [];
  const visit = (panels: GrafanaPanel[]): void => {
    for (const panel of panels) {
      all.push(panel);
      if (panel.panels) visit(panel.panels);
    }
  };
  visit(dashboard.panels);
  return all;
}

/** Every PromQL expression of every panel. */
export function dashboardQueries(dashboard: GrafanaDashboard): DashboardQuery[] {
  const queries: DashboardQuery[] = [];
  for (const panel of dashboardPanels(dashboard)) {
    for (const target of panel.targets ?? []) {
      if (target.expr === undefined) continue;
      queries.push({ panel: panel.title ?? `panel ${panel.id}`, refId: target.refId ?? '?', expr: target.expr, instant: target.instant === true });
    }
  }
  return queries;
}

/** The query of a query variable, whichever shape (string, or the editor's object) it was saved in. */
export function variableQuery(variable: GrafanaVariable): string | undefined {
  if (typeof variable.query === 'string') return variable.query;
  return variable.query?.query ?? variable.definition;
}

/** `label_values(selector, label)` or `label_values(label)`: the Prometheus data source's label-values variable query. */
export function parseLabelValues(query: string): { selector?: string; label: string } {
  const match = /^\s*label_values\(\s*(?:(.*?)\s*,\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/s.exec(query);
  if (!match) throw new Error(`not a label_values(...) query: ${JSON.stringify(query)}`);
  return match[1] === undefined || match[1] === '' ? { label: match[2]! } : { selector: match[1], label: match[2]! };
}

/**
 * Replaces Grafana variables ($name, ${name}, ${name:format}, [[name]]) with `values`. Throws on a
 * variable that has no value, so a misspelt variable fails the test instead of reaching Prometheus.
 */
export function substituteVariables(expression: string, values: Readonly<Record<string, string>>): string {
  return expression.replace(/\$\{([a-zA-Z0-9_]+)(?::[a-zA-Z0-9_]+)?\}|\$([a-zA-Z0-9_]+)|\[\[([a-zA-Z0-9_]+)\]\]/g, (whole, braced?: string, plain?: string, old?: string) => {
    const name = (braced ?? plain ?? old)!;
    const value = values[name];
    if (value === undefined) throw new Error(`no value for the variable ${whole} in ${JSON.stringify(expression)}`);
    return value;
  });
}

/** The names of the variables an expression uses. */
export function variablesUsed(expression: string): string[] {
  const names = new Set<string>();
  for (const match of expression.matchAll(/\$\{([a-zA-Z0-9_]+)(?::[a-zA-Z0-9_]+)?\}|\$([a-zA-Z0-9_]+)|\[\[([a-zA-Z0-9_]+)\]\]/g)) {
    names.add((match[1] ?? match[2] ?? match[3])!);
  }
  return [...names];
}

/**
 * A regular expression matching exactly `value`, written for a double-quoted PromQL string: what
 * Grafana puts in for a single-valued variable used with `=~` (a regex "\." is "\\." in PromQL).
 */
export function escapeRegex(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\\\$&');
}

// --- Rule files ----------------------------------------------------------------------------------

export interface RuleExpression {
  /** The alert or record name. */
  name: string;
  kind: 'alert' | 'record';
  expr: string;
}

/**
 * The rules of a Prometheus rule file, read from the YAML shapes rules.yml uses: `- alert: X` or
 * `- record: X`, then `expr:` either inline or as a `|`/`>` block scalar. Prometheus itself parses
 * the file in the end-to-end test; this lets the fast unit tests look at the same expressions.
 */
export function ruleExpressions(yaml: string): RuleExpression[] {
  const lines = yaml.split('\n');
  const rules: RuleExpression[] = [];
  let current: { name: string; kind: 'alert' | 'record' } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const header = /^\s*-\s+(alert|record):\s*(\S+)\s*$/.exec(line);
    if (header) {
      current = { kind: header[1] as 'alert' | 'record', name: header[2]! };
      continue;
    }
    const expr = /^(\s*)expr:\s*(.*)$/.exec(line);
    if (!expr || !current) continue;
    const inline = expr[2]!.trim();
    let text: string;
    if (/^[|>][-+]?$/.test(inline)) {
      const indent = expr[1]!.length;
      const body: string[] = [];
      for (let j = i + 1; j < lines.length; j++) {
        const next = lines[j]!;
        if (next.trim() !== '' && next.length - next.trimStart().length <= indent) break;
        body.push(next);
        i = j;
      }
      text = body.map((l) => l.trim()).filter((l) => l !== '').join('\n');
    } else {
      text = inline.replace(/^'(.*)'$/s, '$1').replace(/^"(.*)"$/s, '$1');
    }
    rules.push({ ...current, expr: text });
    current = undefined;
  }
  return rules;
}
