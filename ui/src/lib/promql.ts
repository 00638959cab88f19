// PromQL helpers for the editor and the pages that build queries: what to
// complete at the cursor, how to insert a completion, selector building with
// escaping, and turning Prometheus answers into chart series.
import type { ChartSeries } from '../components/Chart';
import type { PromSeries } from './api';
import { promString } from './api';

export const PROMQL_AGGREGATIONS = [
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
];

// The functions of Prometheus 2.42, the version Vispyr's engine follows.
export const PROMQL_FUNCTIONS = [
  'abs',
  'absent',
  'absent_over_time',
  'acos',
  'acosh',
  'asin',
  'asinh',
  'atan',
  'atanh',
  'avg_over_time',
  'ceil',
  'changes',
  'clamp',
  'clamp_max',
  'clamp_min',
  'cos',
  'cosh',
  'count_over_time',
  'day_of_month',
  'day_of_week',
  'day_of_year',
  'days_in_month',
  'deg',
  'delta',
  'deriv',
  'exp',
  'floor',
  'histogram_quantile',
  'holt_winters',
  'hour',
  'idelta',
  'increase',
  'irate',
  'label_join',
  'label_replace',
  'last_over_time',
  'ln',
  'log10',
  'log2',
  'max_over_time',
  'min_over_time',
  'minute',
  'month',
  'pi',
  'predict_linear',
  'present_over_time',
  'quantile_over_time',
  'rad',
  'rate',
  'resets',
  'round',
  'scalar',
  'sgn',
  'sin',
  'sinh',
  'sort',
  'sort_desc',
  'sqrt',
  'stddev_over_time',
  'stdvar_over_time',
  'sum_over_time',
  'tan',
  'tanh',
  'time',
  'timestamp',
  'vector',
  'year',
];

export const PROMQL_DURATIONS = ['1m', '5m', '10m', '15m', '30m', '1h', '6h', '1d'];

/** Keywords after which `(` opens a list of label names, not an expression. */
const GROUPING_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

export type CompletionKind = 'metric' | 'label-name' | 'label-value' | 'duration' | 'none';

export interface CompletionContext {
  kind: CompletionKind;
  /** What has been typed of the word at the cursor (suggestions are filtered by it). */
  prefix: string;
  /** A completion replaces `text.slice(start, end)`. */
  start: number;
  end: number;
  /** The cursor is in a selector's braces (label contexts). */
  inSelector?: boolean;
  /** The metric of the selector the cursor is in (label contexts), if named. */
  metric?: string;
  /** The label whose value is typed (label-value context). */
  label?: string;
  /** The matcher operator before the value (`=`, `!=`, `=~`, `!~`). */
  operator?: string;
  /** The quote of the value being typed. */
  quote?: string;
  /** The other complete matchers of the selector, as text (`job="api"`); they narrow label values. */
  matchers?: string[];
}

const IDENT = /[a-zA-Z0-9_:]/;
const LABEL_NAME = /[a-zA-Z0-9_]/;

/** The identifier that ends at `end` (exclusive), possibly empty. */
function wordBefore(text: string, end: number, chars: RegExp = IDENT): string {
  let start = end;
  while (start > 0 && chars.test(text[start - 1])) start--;
  return text.slice(start, end);
}

/** The end of the identifier that starts or continues at `from`. */
function wordEnd(text: string, from: number, chars: RegExp = IDENT): number {
  let end = from;
  while (end < text.length && chars.test(text[end])) end++;
  return end;
}

function lastNonSpace(text: string, before: number): number {
  let i = before - 1;
  while (i >= 0 && /\s/.test(text[i])) i--;
  return i;
}

/** Matchers that are written out completely in a selector's text. */
export function completeMatchers(selectorText: string): string[] {
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)/g;
  return [...selectorText.matchAll(re)].map((m) => `${m[1]}${m[2]}${m[3]}`);
}

/**
 * What the cursor at `cursor` in `text` is completing: after `{` or `,` in a
 * selector a label name, inside the quotes after `label=` a label value, inside
 * `[...]` a duration, in `by (...)` a label name, else a metric or function name.
 */
export function completionContext(text: string, cursor: number): CompletionContext {
  let quote: string | null = null;
  let stringStart = -1;
  let braceOpen = -1;
  let inBracket = false;
  const parens: boolean[] = [];
  for (let i = 0; i < cursor; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === '\\' && quote !== '`') i++;
      else if (ch === quote) quote = null;
      continue;
    }
    if (ch === '#') {
      // A comment runs to the end of the line.
      const newline = text.indexOf('\n', i);
      if (newline < 0 || newline >= cursor) return none(cursor);
      i = newline;
    } else if (ch === '"' || ch === "'" || ch === '`') {
      quote = ch;
      stringStart = i;
    } else if (ch === '{') braceOpen = i;
    else if (ch === '}') braceOpen = -1;
    else if (ch === '[') inBracket = true;
    else if (ch === ']') inBracket = false;
    else if (ch === '(') parens.push(GROUPING_KEYWORDS.has(wordBefore(text, lastNonSpace(text, i) + 1).toLowerCase()));
    else if (ch === ')') parens.pop();
  }

  if (quote) {
    if (braceOpen < 0) return none(cursor);
    const before = text.slice(braceOpen + 1, stringStart);
    const matcher = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*$/.exec(before);
    if (!matcher) return none(cursor);
    let end = cursor;
    while (end < text.length && text[end] !== quote && text[end] !== '\n') end += text[end] === '\\' ? 2 : 1;
    return {
      kind: 'label-value',
      prefix: text.slice(stringStart + 1, cursor),
      start: stringStart + 1,
      end: Math.min(end, text.length),
      inSelector: true,
      metric: metricBefore(text, braceOpen),
      label: matcher[1],
      operator: matcher[2],
      quote,
      matchers: completeMatchers(before.slice(0, matcher.index)),
    };
  }

  if (inBracket) {
    const prefix = wordBefore(text, cursor, /[0-9a-z]/);
    return { kind: 'duration', prefix, start: cursor - prefix.length, end: wordEnd(text, cursor, /[0-9a-z]/) };
  }

  if (braceOpen >= 0) {
    const prefix = wordBefore(text, cursor, LABEL_NAME);
    const before = lastNonSpace(text, cursor - prefix.length);
    // Only where a label name may start: right after `{` or `,`.
    if (before >= 0 && text[before] !== '{' && text[before] !== ',') return none(cursor);
    return {
      kind: 'label-name',
      prefix,
      start: cursor - prefix.length,
      end: wordEnd(text, cursor, LABEL_NAME),
      inSelector: true,
      metric: metricBefore(text, braceOpen),
      matchers: completeMatchers(text.slice(braceOpen + 1, cursor - prefix.length)),
    };
  }

  if (parens.length > 0 && parens[parens.length - 1]) {
    const prefix = wordBefore(text, cursor, LABEL_NAME);
    return { kind: 'label-name', prefix, start: cursor - prefix.length, end: wordEnd(text, cursor, LABEL_NAME) };
  }

  const prefix = wordBefore(text, cursor);
  if (/^[0-9]/.test(prefix)) return none(cursor);
  if (prefix === '') {
    // Nothing typed: suggest names only where an operand may start, not right
    // after one (`rate(x[5m]) |` wants an operator).
    const before = lastNonSpace(text, cursor);
    if (before >= 0 && !/[(,+\-*/%^=<>!]/.test(text[before])) return none(cursor);
  }
  return { kind: 'metric', prefix, start: cursor - prefix.length, end: wordEnd(text, cursor) };
}

function none(cursor: number): CompletionContext {
  return { kind: 'none', prefix: '', start: cursor, end: cursor };
}

/** The metric name written right before the `{` at `braceOpen`, if any. */
function metricBefore(text: string, braceOpen: number): string | undefined {
  const name = wordBefore(text, lastNonSpace(text, braceOpen) + 1);
  return name && !/^[0-9]/.test(name) && !GROUPING_KEYWORDS.has(name) ? name : undefined;
}

/** Escapes a string for use as a literal inside a regular expression matcher (`=~`). */
export function regexEscape(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A value as the inside of a PromQL string in `quote`s. */
function quoteInner(value: string, quote: string): string {
  if (quote === '`') return value;
  return value.replace(/\\/g, '\\\\').replace(new RegExp(quote, 'g'), `\\${quote}`);
}

export interface Completion {
  text: string;
  cursor: number;
}

export type SuggestionType = 'metric' | 'function' | 'label' | 'value' | 'duration';

export interface Suggestion {
  value: string;
  type: SuggestionType;
}

/** `text` with the suggestion put in place of the word at the context, and where the cursor goes. */
export function applyCompletion(text: string, context: CompletionContext, suggestion: Suggestion): Completion {
  const head = text.slice(0, context.start);
  let tail = text.slice(context.end);
  let insert = suggestion.value;
  let cursorOffset: number | undefined;
  switch (suggestion.type) {
    case 'function':
      if (tail.startsWith('(')) tail = tail.slice(1);
      insert += '(';
      break;
    case 'label':
      // In a selector, open the value's quotes so that value completion follows
      // (unless the label already has its operator).
      if (context.inSelector && !/^\s*(=|!=|=~|!~)/.test(tail)) {
        insert += '=""';
        cursorOffset = insert.length - 1;
      }
      break;
    case 'value': {
      const quote = context.quote ?? '"';
      const raw = context.operator === '=~' || context.operator === '!~' ? regexEscape(insert) : insert;
      insert = quoteInner(raw, quote);
      // Close the string (or step over its closing quote).
      if (tail.startsWith(quote)) tail = tail.slice(1);
      insert += quote;
      break;
    }
    default:
      break;
  }
  return { text: head + insert + tail, cursor: head.length + (cursorOffset ?? insert.length) };
}

/** The candidates that match `prefix`: prefix matches first, then substring matches; at most `limit`. */
export function rankSuggestions(candidates: Suggestion[], prefix: string, limit = 50): Suggestion[] {
  const needle = prefix.toLowerCase();
  const starts: Suggestion[] = [];
  const contains: Suggestion[] = [];
  for (const candidate of candidates) {
    const value = candidate.value.toLowerCase();
    if (value === needle) continue;
    if (value.startsWith(needle)) starts.push(candidate);
    else if (needle && value.includes(needle)) contains.push(candidate);
  }
  return [...starts, ...contains].slice(0, limit);
}

/**
 * A selector's matchers with the values escaped (`a="x", b="y"`); `undefined`
 * values are left out and `extra` matchers are appended as written.
 */
export function matchers(labels: Record<string, string | undefined>, extra: string[] = []): string {
  const parts = Object.entries(labels)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => `${name}=${promString(value)}`);
  return [...parts, ...extra].join(', ');
}

/** `metric{a="x", b="y"}` with the values escaped; just `metric` without matchers. */
export function selector(metric: string, labels: Record<string, string | undefined> = {}, extra: string[] = []): string {
  const inner = matchers(labels, extra);
  return inner ? `${metric}{${inner}}` : metric;
}

/** A PromQL range-vector duration for `seconds` (`90s`, `5m`). */
export function promDuration(seconds: number): string {
  const s = Math.max(1, Math.round(seconds));
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

/** The rate window of a range query with `step` seconds: several connector flushes or scrapes (15 s) at least. */
export function rateWindow(stepSeconds: number): string {
  return promDuration(Math.max(60, 4 * stepSeconds));
}

/** The window of an instant query summarising the whole range. */
export function rangeWindow(range: { from: number; to: number }): string {
  return promDuration(Math.max(60, (range.to - range.from) / 1000));
}

/** `name{a="x", b="y"}` as Prometheus prints a series. */
export function seriesName(metric: Record<string, string>): string {
  const name = metric.__name__ ?? '';
  const labels = Object.entries(metric)
    .filter(([label]) => label !== '__name__')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([label, value]) => `${label}=${promString(value)}`);
  if (labels.length === 0) return name || '{}';
  return `${name}{${labels.join(', ')}}`;
}

/** The legend of a series: `format` with `{{label}}` replaced, or the series name. */
export function legendFor(metric: Record<string, string>, format?: string): string {
  if (!format) return seriesName(metric);
  return format.replace(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g, (_, label: string) => metric[label] ?? '');
}

/** A range query's series as chart series (times in ms, values parsed; NaN and ±Inf left out). */
export function toChartSeries(result: PromSeries[], format?: string): ChartSeries[] {
  return result.map((series) => ({
    label: legendFor(series.metric, format),
    points: series.values
      .map(([t, v]): [number, number] => [Math.round(t * 1000), Number(v)])
      .filter(([, v]) => Number.isFinite(v)),
  }));
}

// --- Explorer URL state ---------------------------------------------------------

/** One query of the Metrics explorer. */
export interface ExploreQuery {
  expr: string;
  /** Legend format with `{{label}}` placeholders; the series name when empty. */
  legend: string;
  view: 'graph' | 'table';
}

/** The explorer's queries from URL parameters `n`, `q0`, `l0`, `v0`, `q1`, … (at least one). */
export function readExploreQueries(params: URLSearchParams): ExploreQuery[] {
  const indexed = [...params.keys()].map((k) => /^[qlv](\d+)$/.exec(k)).filter((m) => m !== null);
  const highest = Math.max(-1, ...indexed.map((m) => Number(m[1])));
  const count = Math.max(1, Number(params.get('n')) || 0, highest + 1);
  return Array.from({ length: count }, (_, i) => ({
    expr: params.get(`q${i}`) ?? '',
    legend: params.get(`l${i}`) ?? '',
    view: params.get(`v${i}`) === 'table' ? 'table' : 'graph',
  }));
}

/**
 * URL parameter changes that store `queries` (for `setParams`): every
 * `q/l/v` index up to `previousCount` is set or removed, and `n` only when
 * trailing queries are empty (otherwise the indexes tell the count).
 */
export function exploreParams(queries: ExploreQuery[], previousCount = 0): Record<string, string | undefined> {
  const changes: Record<string, string | undefined> = {};
  const count = Math.max(queries.length, previousCount);
  for (let i = 0; i < count; i++) {
    const query = queries[i];
    changes[`q${i}`] = query?.expr || undefined;
    changes[`l${i}`] = query?.legend || undefined;
    changes[`v${i}`] = query?.view === 'table' ? 'table' : undefined;
  }
  let used = queries.length;
  while (used > 0 && !queries[used - 1].expr && !queries[used - 1].legend && queries[used - 1].view === 'graph') used--;
  changes.n = queries.length > used && queries.length > 1 ? String(queries.length) : undefined;
  return changes;
}
