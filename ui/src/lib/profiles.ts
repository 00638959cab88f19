// The profile API (/api/v1/profiles) and its vocabulary: profile type ids,
// selectors (`type{label="value"}`), and the answers of the flamegraph, table,
// timeline and diff endpoints. Times go to the server as epoch milliseconds.
import { getJson, promString, sendJson, withQuery } from './api';
import { formatValue } from './format';

// --- profile types ----------------------------------------------------------------

/** A Pyroscope profile type id `name:sample_type:sample_unit:period_type:period_unit`. */
export interface ProfileType {
  id: string;
  name: string;
  sampleType: string;
  sampleUnit: string;
  periodType: string;
  periodUnit: string;
}

export function parseProfileType(id: string): ProfileType {
  const [name = id, sampleType = '', sampleUnit = '', periodType = '', periodUnit = ''] = id.split(':');
  return { id, name, sampleType, sampleUnit, periodType, periodUnit };
}

/** `process_cpu:cpu:nanoseconds:…` → `process_cpu · cpu`; the unit is shown by values. */
export function profileTypeLabel(id: string): string {
  const type = parseProfileType(id);
  if (!type.sampleType || type.sampleType === type.name) return type.name;
  return `${type.name} · ${type.sampleType}`;
}

/**
 * How a type's sample values read: the unit `formatValue` understands and the
 * factor that brings values into it (microseconds are shown as durations too).
 */
export function sampleUnit(id: string | undefined): { unit?: string; scale: number } {
  switch (id ? parseProfileType(id).sampleUnit : '') {
    case 'nanoseconds':
      return { unit: 'ns', scale: 1 };
    case 'microseconds':
      return { unit: 'ns', scale: 1000 };
    case 'milliseconds':
      return { unit: 'ns', scale: 1e6 };
    case 'bytes':
      return { unit: 'bytes', scale: 1 };
    default:
      return { scale: 1 };
  }
}

/** A sample value of type `id`: `1.52s`, `12 MiB`, `3.4k`. */
export function formatSample(value: number, id: string | undefined): string {
  const { unit, scale } = sampleUnit(id);
  return formatValue(value * scale, unit);
}

/** The type a page opens with: CPU time, then wall time, then anything CPU, then the first. */
export function defaultProfileType(types: string[]): string | undefined {
  const preferred = [
    (t: ProfileType) => t.sampleType === 'cpu' && t.sampleUnit === 'nanoseconds',
    (t: ProfileType) => t.sampleType === 'wall',
    (t: ProfileType) => t.name.includes('cpu'),
  ];
  const parsed = types.map(parseProfileType);
  for (const test of preferred) {
    const found = parsed.find(test);
    if (found) return found.id;
  }
  return types[0];
}

// --- selectors -----------------------------------------------------------------------

export type MatchOp = '=' | '!=' | '=~' | '!~';
export const MATCH_OPS: MatchOp[] = ['=', '!=', '=~', '!~'];

export interface Matcher {
  name: string;
  op: MatchOp;
  value: string;
}

/** `type{matchers}`; `type` may be empty (label queries). */
export interface Selector {
  type: string;
  matchers: Matcher[];
}

/** Formats a selector the way the server parses it. */
export function formatSelector({ type, matchers }: Selector): string {
  const body = matchers.map((m) => `${m.name}${m.op}${promString(m.value)}`).join(', ');
  return `${type}{${body}}`;
}

const MATCHER = /^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/;

/** Parses `type{name="value", …}`; null when it is not one. */
export function parseSelector(text: string): Selector | null {
  const whole = /^\s*([^{}\s]*)\s*(?:\{(.*)\})?\s*$/s.exec(text);
  if (!whole) return null;
  const type = whole[1];
  const matchers: Matcher[] = [];
  let rest = whole[2] ?? '';
  while (rest.trim() !== '') {
    const match = MATCHER.exec(rest);
    if (!match) return null;
    matchers.push({ name: match[1], op: match[2] as MatchOp, value: match[3].replace(/\\(.)/g, '$1') });
    rest = rest.slice(match[0].length);
  }
  return { type, matchers };
}

/** The value of an `=` matcher on `name`, if there is exactly that. */
export function equalityValue(selector: Selector, name: string): string | undefined {
  const found = selector.matchers.filter((m) => m.name === name);
  return found.length === 1 && found[0].op === '=' ? found[0].value : undefined;
}

/** `selector` with the matchers on `name` replaced by `name="value"` (none when `value` is undefined). */
export function withEquality(selector: Selector, name: string, value: string | undefined): Selector {
  const others = selector.matchers.filter((m) => m.name !== name);
  const matchers = value === undefined ? others : [{ name, op: '=' as MatchOp, value }, ...others];
  return { ...selector, matchers };
}

// --- answers -------------------------------------------------------------------------

/** A flamegraph node as the server sends it: children ordered by name, `other` last. */
export interface TreeNode {
  name: string;
  self: number;
  total: number;
  /** Stands for children pruned away (their summed values). */
  other?: boolean;
  /** Names of the tags `tag` rules attached. */
  tags?: string[];
  children: TreeNode[];
}

export interface TagDef {
  name: string;
  color?: string;
}

/** What every selection answer carries besides its data. */
export interface SelectionInfo {
  profile_type: string | null;
  /** Unix nanoseconds. */
  from: number;
  until: number;
  /** True when a trace's samples were approximated by its services and time. */
  approximate: boolean;
  note: string | null;
  missing_stacks: number;
}

export interface FlamegraphAnswer extends SelectionInfo {
  flamegraph: {
    summary: { total: number; node_count: number; pruned_value: number };
    tags: TagDef[];
    root: TreeNode;
  };
}

export interface TableRow {
  name: string;
  self: number;
  total: number;
}

export interface TableAnswer extends SelectionInfo {
  total: number;
  rows: TableRow[];
}

export interface TimelineAnswer {
  profile_type: string | null;
  step_ms: number;
  approximate: boolean;
  note: string | null;
  series: { labels: Record<string, string>; points: [number, number][] }[];
}

export interface DiffNode {
  name: string;
  left_self: number;
  left_total: number;
  right_self: number;
  right_total: number;
  other?: boolean;
  children: DiffNode[];
}

export interface DiffAnswer {
  diff: {
    summary: { left_total: number; right_total: number; node_count: number };
    root: DiffNode;
  };
}

// --- requests ------------------------------------------------------------------------

const BASE = '/api/v1/profiles';

/** What selects samples: a selector, a range, and optionally one span or trace. */
export interface SelectionParams {
  query: string;
  /** Epoch milliseconds. */
  from: number;
  until: number;
  spanId?: string;
  traceId?: string;
}

/** How a tree is viewed: rules spec (`default`, `none`, `preset:<language>`, …), grouping, size. */
export interface ViewParams {
  rules?: string;
  groupByTag?: boolean;
  maxNodes?: number;
}

function selectionQuery(selection: SelectionParams, view: ViewParams = {}) {
  return {
    query: selection.query,
    from: Math.floor(selection.from),
    until: Math.ceil(selection.until),
    span_id: selection.spanId,
    trace_id: selection.traceId,
    rules: view.rules,
    group_by: view.groupByTag ? 'tag' : undefined,
    max_nodes: view.maxNodes,
  };
}

export async function fetchProfileTypes(from: number, until: number, signal?: AbortSignal): Promise<string[]> {
  const body = await getJson<{ types: string[] }>(`${BASE}/types`, { from: Math.floor(from), until: Math.ceil(until) }, signal);
  return body.types;
}

export async function fetchLabelNames(query: string, from: number, until: number, signal?: AbortSignal): Promise<string[]> {
  const body = await getJson<{ names: string[] }>(
    `${BASE}/labels`,
    { query, from: Math.floor(from), until: Math.ceil(until) },
    signal,
  );
  return body.names;
}

export async function fetchLabelValues(
  name: string,
  query: string,
  from: number,
  until: number,
  signal?: AbortSignal,
): Promise<string[]> {
  const body = await getJson<{ values: string[] }>(
    `${BASE}/label_values`,
    { name, query, from: Math.floor(from), until: Math.ceil(until) },
    signal,
  );
  return body.values;
}

export function fetchFlamegraph(selection: SelectionParams, view: ViewParams, signal?: AbortSignal): Promise<FlamegraphAnswer> {
  return getJson<FlamegraphAnswer>(`${BASE}/flamegraph`, selectionQuery(selection, view), signal);
}

export function fetchTable(selection: SelectionParams, view: ViewParams, signal?: AbortSignal): Promise<TableAnswer> {
  return getJson<TableAnswer>(`${BASE}/table`, selectionQuery(selection, view), signal);
}

export function fetchTimeline(
  selection: SelectionParams,
  groupBy: string[],
  signal?: AbortSignal,
): Promise<TimelineAnswer> {
  return getJson<TimelineAnswer>(
    `${BASE}/timeline`,
    { ...selectionQuery(selection), group_by: groupBy.join(',') },
    signal,
  );
}

export function fetchDiff(
  baseline: SelectionParams,
  comparison: SelectionParams,
  view: ViewParams,
  signal?: AbortSignal,
): Promise<DiffAnswer> {
  return getJson<DiffAnswer>(
    `${BASE}/diff`,
    {
      baseline: baseline.query,
      comparison: comparison.query,
      baseline_from: Math.floor(baseline.from),
      baseline_until: Math.ceil(baseline.until),
      comparison_from: Math.floor(comparison.from),
      comparison_until: Math.ceil(comparison.until),
      rules: view.rules,
      group_by: view.groupByTag ? 'tag' : undefined,
      max_nodes: view.maxNodes,
    },
    signal,
  );
}

/** A download link for the selection as gzipped pprof or folded text. */
export function exportUrl(selection: SelectionParams, view: ViewParams, format: 'pprof' | 'folded'): string {
  return withQuery(`${BASE}/export`, { ...selectionQuery(selection, view), max_nodes: undefined, format });
}

// --- view rules ----------------------------------------------------------------------

export type RuleKind = 'hide' | 'collapse' | 'rename' | 'tag';
export type RuleField = 'function' | 'file' | 'mapping' | 'package' | 'name' | 'any';

/** A view rule as stored by the server (see docs/profiles.md). */
export interface Rule {
  id?: string;
  kind: RuleKind;
  pattern: string;
  field?: RuleField;
  /** Absent means enabled. */
  enabled?: boolean;
  name?: string;
  replacement?: string;
  color?: string;
}

export interface ListedRule extends Rule {
  source: 'config' | 'api';
}

export interface RulesAnswer {
  presets: string[];
  rules: ListedRule[];
}

export function fetchRules(signal?: AbortSignal): Promise<RulesAnswer> {
  return getJson<RulesAnswer>(`${BASE}/rules`, {}, signal);
}

export async function fetchPresets(signal?: AbortSignal): Promise<Record<string, { rules: Rule[] }>> {
  const body = await getJson<{ presets: Record<string, { rules: Rule[] }> }>(`${BASE}/presets`, {}, signal);
  return body.presets;
}

export function createRule(rule: Rule): Promise<Rule> {
  return sendJson<Rule>('POST', `${BASE}/rules`, rule);
}

export function replaceRule(id: string, rule: Rule): Promise<Rule> {
  return sendJson<Rule>('PUT', `${BASE}/rules/${encodeURIComponent(id)}`, rule);
}

export function deleteRule(id: string): Promise<void> {
  return sendJson<void>('DELETE', `${BASE}/rules/${encodeURIComponent(id)}`);
}

export function setStoredPresets(presets: string[]): Promise<{ presets: string[] }> {
  return sendJson<{ presets: string[] }>('PUT', `${BASE}/rules/presets`, { presets });
}

/** Only the fields a rule of its kind may carry (the server refuses the others). */
export function cleanRule(rule: Rule): Rule {
  const out: Rule = { kind: rule.kind, pattern: rule.pattern };
  if (rule.id) out.id = rule.id;
  if (rule.enabled === false) out.enabled = false;
  if (rule.kind === 'rename') {
    out.replacement = rule.replacement ?? '';
    if (rule.field === 'name') out.field = 'name';
    return out;
  }
  if (rule.field) out.field = rule.field;
  if ((rule.kind === 'collapse' || rule.kind === 'tag') && rule.name) out.name = rule.name;
  if (rule.kind === 'tag' && rule.color) out.color = rule.color;
  return out;
}

/** A pattern that matches exactly `text` (the server's patterns are globs unless `regex:`). */
export function exactPattern(text: string): string {
  return `regex:^${text.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&')}$`;
}
