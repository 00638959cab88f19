// Traces: the typed answers of the native trace API (crates/api/src/traces.rs,
// crates/query/src/traces.rs), the search form <-> URL mapping, and the
// waterfall model — span tree, collapsing, self time and critical path.
//
// Times are Unix nanoseconds as JSON numbers; above 2^53 they lose a few
// hundred nanoseconds of precision, far below what a waterfall can show.
import { getJson } from './api';
import { type Attributes, getTypedJson } from './attributes';
import type { UrlValues } from './searchParams';
import { allValues } from './searchParams';

// --- API shapes -----------------------------------------------------------------

/** A span a search selected (`matched_spans`). */
export interface MatchedSpan {
  span_id: string;
  name: string;
  service_name: string;
  start_ns: number;
  duration_ns: number;
}

/** One trace of `GET /api/v1/traces`. */
export interface TraceSummary {
  trace_id: string;
  root_service: string;
  root_name: string;
  start_ns: number;
  /** First span start to last span end. */
  duration_ns: number;
  span_count: number;
  error_count: number;
  services: string[];
  /** Spans the query selected (all spans for structured filters). */
  matched: number;
  matched_spans: MatchedSpan[];
}

export interface SpanEvent {
  name: string;
  time_ns: number;
  attributes: Attributes;
}

export interface SpanLink {
  trace_id: string;
  span_id: string;
  trace_state: string | null;
  attributes: Attributes;
}

export type SpanKind = 'unspecified' | 'internal' | 'server' | 'client' | 'producer' | 'consumer';
export type SpanStatus = 'unset' | 'ok' | 'error';

/** One span of `GET /api/v1/traces/{id}`. */
export interface Span {
  trace_id: string;
  span_id: string;
  /** `''` for a root. */
  parent_span_id: string;
  name: string;
  service_name: string;
  kind: SpanKind;
  status: SpanStatus;
  status_message: string;
  start_ns: number;
  end_ns: number;
  duration_ns: number;
  /** Depth in the server's tree (recomputed by `buildTree`). */
  depth: number;
  attributes: Attributes;
  resource: Attributes;
  scope_name: string;
  scope_version: string;
  events: SpanEvent[];
  links: SpanLink[];
  /** Log records carrying this span's id. */
  log_count: number;
}

export interface TraceResponse {
  trace_id: string;
  spans: Span[];
}

// --- search ---------------------------------------------------------------------

/** The search form; the same names are the URL parameters and the API's. */
export interface TraceQuery {
  service?: string;
  span_name?: string;
  /** Durations as the API takes them: `250ms`, `1s`. */
  min_duration?: string;
  max_duration?: string;
  status?: '' | SpanStatus;
  /** `key=value` conditions on span or resource attributes. */
  attr?: string[];
  /** TraceQL. */
  q?: string;
  limit?: number;
}

export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 1000;
export const STATUSES: SpanStatus[] = ['ok', 'error', 'unset'];

/** The query of a page URL. */
export function traceQueryFromParams(params: URLSearchParams): TraceQuery {
  const text = (name: string) => params.get(name) || undefined;
  const status = params.get('status');
  const limit = Number(params.get('limit'));
  return {
    service: text('service'),
    span_name: text('span_name'),
    min_duration: text('min_duration'),
    max_duration: text('max_duration'),
    status: STATUSES.includes(status as SpanStatus) ? (status as SpanStatus) : undefined,
    attr: allValues(params, 'attr'),
    q: text('q'),
    limit: Number.isInteger(limit) && limit >= 1 && limit <= MAX_LIMIT ? limit : undefined,
  };
}

/** The URL parameters of a query (every field, so stale ones are removed). */
export function traceQueryValues(query: TraceQuery): UrlValues {
  return {
    service: query.service,
    span_name: query.span_name,
    min_duration: query.min_duration,
    max_duration: query.max_duration,
    status: query.status,
    attr: query.attr?.filter((a) => a.trim() !== ''),
    q: query.q?.trim(),
    limit: query.limit === undefined || query.limit === DEFAULT_LIMIT ? undefined : String(query.limit),
  };
}

/** The names `traceQueryValues` writes. */
export const TRACE_QUERY_PARAMS = Object.keys(traceQueryValues({}));

/** Whether an `attr` condition lacks `key=` (the API answers 400 for those). */
export function invalidAttribute(condition: string): boolean {
  return condition.indexOf('=') <= 0;
}

/** Trace summaries matching `query` in `range` (epoch ms), newest first. */
export async function searchTraces(
  query: TraceQuery,
  range: { from: number; to: number },
  signal?: AbortSignal,
): Promise<TraceSummary[]> {
  const body = await getJson<{ traces: TraceSummary[] }>(
    '/api/v1/traces',
    {
      ...traceQueryValues(query),
      limit: query.limit,
      from: Math.floor(range.from),
      until: Math.ceil(range.to),
    },
    signal,
  );
  return body.traces;
}

/** Every span of a trace (attribute types kept). */
export function fetchTrace(traceId: string, signal?: AbortSignal): Promise<TraceResponse> {
  return getTypedJson<TraceResponse>(`/api/v1/traces/${encodeURIComponent(traceId)}`, {}, signal);
}

/** Services with spans in the range. */
export async function fetchServices(range: { from: number; to: number }, signal?: AbortSignal): Promise<string[]> {
  const body = await getJson<{ services: string[] }>(
    '/api/v1/services',
    { from: Math.floor(range.from), until: Math.ceil(range.to) },
    signal,
  );
  return body.services;
}

/** Span names of a service in the range. */
export async function fetchOperations(
  service: string,
  range: { from: number; to: number },
  signal?: AbortSignal,
): Promise<string[]> {
  const body = await getJson<{ operations: string[] }>(
    `/api/v1/services/${encodeURIComponent(service)}/operations`,
    { from: Math.floor(range.from), until: Math.ceil(range.to) },
    signal,
  );
  return body.operations;
}

// --- the span tree --------------------------------------------------------------

/** A half-open interval `[start, end)` in Unix nanoseconds. */
export type Interval = [number, number];

export interface SpanNode {
  span: Span;
  parent: SpanNode | undefined;
  /** By start time. */
  children: SpanNode[];
  depth: number;
  /** Position in `TraceTree.nodes` (depth-first order). */
  index: number;
  /** Position just past the last descendant: the subtree is `nodes[index..end)`. */
  end: number;
  /** Has a parent id that is not in the trace (a lost or not yet arrived span). */
  orphan: boolean;
  /** Where the span runs without any child running, within its own interval. */
  self: Interval[];
  selfNs: number;
}

export interface TraceTree {
  traceId: string;
  /** Depth first, children by start time: the waterfall's order. */
  nodes: SpanNode[];
  /** Spans without a known parent, by start time; the first is the trace's root. */
  roots: SpanNode[];
  byId: Map<string, SpanNode>;
  startNs: number;
  endNs: number;
  durationNs: number;
  /** Sorted. */
  services: string[];
  errorCount: number;
}

/** Merges intervals into disjoint ones, sorted by start. */
export function mergeIntervals(intervals: Interval[]): Interval[] {
  const sorted = intervals.filter(([s, e]) => e > s).sort((a, b) => a[0] - b[0]);
  const out: Interval[] = [];
  for (const [start, end] of sorted) {
    const last = out[out.length - 1];
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else out.push([start, end]);
  }
  return out;
}

/** The parts of `[start, end)` that no interval of `busy` (merged) covers. */
function complement(start: number, end: number, busy: Interval[]): Interval[] {
  const out: Interval[] = [];
  let cursor = start;
  for (const [s, e] of busy) {
    if (e <= cursor) continue;
    if (s >= end) break;
    if (s > cursor) out.push([cursor, s]);
    cursor = Math.max(cursor, e);
  }
  if (cursor < end) out.push([cursor, end]);
  return out;
}

const byStart = (a: Span, b: Span) => a.start_ns - b.start_ns || (a.span_id < b.span_id ? -1 : a.span_id > b.span_id ? 1 : 0);

/**
 * The tree of `spans` in any order: roots are spans whose parent is not in the
 * trace (orphans included), children ordered by start time. Duplicate span ids
 * (a retried export) keep the first; spans on a parent cycle become roots.
 */
export function buildTree(traceId: string, spans: Span[]): TraceTree {
  const byId = new Map<string, SpanNode>();
  for (const span of [...spans].sort(byStart)) {
    if (byId.has(span.span_id)) continue;
    byId.set(span.span_id, {
      span,
      parent: undefined,
      children: [],
      depth: 0,
      index: 0,
      end: 0,
      orphan: false,
      self: [],
      selfNs: 0,
    });
  }
  const all = [...byId.values()];
  const roots: SpanNode[] = [];
  for (const node of all) {
    const parentId = node.span.parent_span_id;
    const parent = parentId && parentId !== node.span.span_id ? byId.get(parentId) : undefined;
    if (parent) {
      node.parent = parent;
      parent.children.push(node);
    } else {
      node.orphan = parentId !== '' && parentId !== undefined;
      roots.push(node);
    }
  }

  // Depth first from every root; whatever is not reached hangs on a cycle.
  const nodes: SpanNode[] = [];
  const visit = (root: SpanNode) => {
    const stack: SpanNode[] = [root];
    while (stack.length > 0) {
      const node = stack.pop()!;
      node.index = nodes.length;
      node.depth = node.parent ? node.parent.depth + 1 : 0;
      nodes.push(node);
      for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]);
    }
  };
  roots.forEach(visit);
  if (nodes.length < all.length) {
    const reached = new Set(nodes);
    for (const node of all) {
      if (reached.has(node)) continue;
      // Break the cycle at this span: it becomes a root; its subtree follows.
      node.parent?.children.splice(node.parent.children.indexOf(node), 1);
      node.parent = undefined;
      node.orphan = true;
      roots.push(node);
      const before = nodes.length;
      visit(node);
      nodes.slice(before).forEach((n) => reached.add(n));
    }
  }
  // Subtree ends, from the leaves up.
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    node.end = node.children.length ? node.children[node.children.length - 1].end : i + 1;
  }
  for (const node of nodes) {
    const { start_ns: start, end_ns: end } = node.span;
    const busy = mergeIntervals(node.children.map((c): Interval => [Math.max(start, c.span.start_ns), Math.min(end, c.span.end_ns)]));
    node.self = complement(start, end, busy);
    node.selfNs = node.self.reduce((sum, [s, e]) => sum + (e - s), 0);
  }

  let startNs = Infinity;
  let endNs = -Infinity;
  let errorCount = 0;
  const services = new Set<string>();
  for (const { span } of nodes) {
    startNs = Math.min(startNs, span.start_ns);
    endNs = Math.max(endNs, span.end_ns);
    if (span.status === 'error') errorCount += 1;
    services.add(span.service_name);
  }
  if (nodes.length === 0) startNs = endNs = 0;
  return {
    traceId,
    nodes,
    roots,
    byId,
    startNs,
    endNs,
    durationNs: endNs - startNs,
    services: [...services].sort(),
    errorCount,
  };
}

/**
 * The critical path: for every span on it, the intervals during which the
 * trace was waiting on that span. Walking back from a span's end, the child
 * that finished last is what it waited for until that child's end; before the
 * child started, the span waited on the child that finished last before that
 * point, and so on; time no child covers is the span's own.
 */
export function criticalPath(tree: TraceTree): Map<string, Interval[]> {
  const path = new Map<string, Interval[]>();
  const add = (node: SpanNode, start: number, end: number) => {
    if (end <= start) return;
    const list = path.get(node.span.span_id);
    if (list) list.push([start, end]);
    else path.set(node.span.span_id, [[start, end]]);
  };
  const work: [SpanNode, number][] = tree.roots.map((root) => [root, root.span.end_ns]);
  while (work.length > 0) {
    const [node, until] = work.pop()!;
    const start = node.span.start_ns;
    let cursor = Math.min(node.span.end_ns, until);
    const children = [...node.children].sort((a, b) => b.span.end_ns - a.span.end_ns);
    for (const child of children) {
      if (cursor <= start) break;
      if (child.span.start_ns >= cursor) continue;
      const childEnd = Math.min(child.span.end_ns, cursor);
      if (childEnd <= start) break;
      add(node, childEnd, cursor);
      work.push([child, childEnd]);
      cursor = Math.max(child.span.start_ns, start);
    }
    add(node, start, cursor);
  }
  for (const intervals of path.values()) intervals.sort((a, b) => a[0] - b[0]);
  return path;
}

// --- collapsing and rows ----------------------------------------------------------

/**
 * What is collapsed: by default every span at `depth` or deeper (none when
 * undefined), with `toggled` spans flipped — so "collapse all" and "expand
 * all" stay short in the URL.
 */
export interface Fold {
  depth?: number;
  toggled: Set<string>;
}

export function isCollapsed(node: SpanNode, fold: Fold): boolean {
  if (node.children.length === 0) return false;
  const byDefault = fold.depth !== undefined && node.depth >= fold.depth;
  return byDefault !== fold.toggled.has(node.span.span_id);
}

/** The fold of a page URL: `fold=<depth>` and `toggle=<span id>,<span id>`. */
export function foldFromParams(params: URLSearchParams): Fold {
  const depth = Number(params.get('fold') ?? '');
  const toggled = (params.get('toggle') ?? '').split(',').filter((id) => id !== '');
  return { depth: params.get('fold') && Number.isInteger(depth) && depth >= 0 ? depth : undefined, toggled: new Set(toggled) };
}

export function foldValues(fold: Fold): UrlValues {
  return { fold: fold.depth === undefined ? undefined : String(fold.depth), toggle: [...fold.toggled].join(',') };
}

/** `fold` with `node` flipped. */
export function toggleFold(fold: Fold, node: SpanNode): Fold {
  const toggled = new Set(fold.toggled);
  const id = node.span.span_id;
  if (toggled.has(id)) toggled.delete(id);
  else toggled.add(id);
  return { depth: fold.depth, toggled };
}

export interface WaterfallRow {
  node: SpanNode;
  /** Start relative to the trace's start. */
  offsetNs: number;
  durationNs: number;
  collapsed: boolean;
  /** Spans hidden under this row when collapsed. */
  hidden: number;
}

/**
 * The rows the waterfall shows: every span not under a collapsed one, depth
 * first. The ancestors of `reveal` are shown expanded, so a selected span is
 * never hidden.
 */
export function waterfallRows(tree: TraceTree, fold: Fold, reveal?: SpanNode): WaterfallRow[] {
  const open = new Set<SpanNode>();
  for (let n = reveal?.parent; n; n = n.parent) open.add(n);
  const rows: WaterfallRow[] = [];
  let i = 0;
  while (i < tree.nodes.length) {
    const node = tree.nodes[i];
    const collapsed = !open.has(node) && isCollapsed(node, fold);
    rows.push({
      node,
      offsetNs: node.span.start_ns - tree.startNs,
      durationNs: node.span.duration_ns,
      collapsed,
      hidden: collapsed ? node.end - node.index - 1 : 0,
    });
    i = collapsed ? node.end : i + 1;
  }
  return rows;
}

// --- axis, colours, links -----------------------------------------------------------

/** About `count` round tick positions (ns from the start) over `[0, durationNs]`. */
export function timeTicks(durationNs: number, count = 5): number[] {
  if (!(durationNs > 0)) return [0];
  const rough = durationNs / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
  const ticks: number[] = [];
  for (let t = 0; t <= durationNs + step * 1e-9; t += step) ticks.push(t);
  return ticks;
}

/** A stable palette index for a service name (same colour on every page). */
export function serviceColorIndex(service: string): number {
  let hash = 0;
  for (let i = 0; i < service.length; i++) hash = (hash * 31 + service.charCodeAt(i)) >>> 0;
  return hash;
}

/** Epoch-ms range around a trace (links to its logs and profiles). */
export function traceWindow(startNs: number, endNs: number, padMs = 15_000): { from: string; to: string } {
  return {
    from: String(Math.floor(startNs / 1e6 - padMs)),
    to: String(Math.ceil(endNs / 1e6 + padMs)),
  };
}

// --- the results table's order ---------------------------------------------------

export type TraceSortKey = 'root' | 'start' | 'duration' | 'spans' | 'errors';

export interface TraceSort {
  key: TraceSortKey;
  desc: boolean;
}

/** The search's own order: newest first. */
export const DEFAULT_SORT: TraceSort = { key: 'start', desc: true };

const SORT_KEYS: TraceSortKey[] = ['root', 'start', 'duration', 'spans', 'errors'];

/** `duration` (ascending) or `-duration` (descending), as in the URL. */
export function parseTraceSort(text: string | null | undefined): TraceSort {
  const desc = text?.startsWith('-') ?? false;
  const key = (desc ? text!.slice(1) : text) as TraceSortKey;
  return SORT_KEYS.includes(key) ? { key, desc } : DEFAULT_SORT;
}

export function traceSortText(sort: TraceSort): string {
  return `${sort.desc ? '-' : ''}${sort.key}`;
}

export function sortTraces(traces: TraceSummary[], sort: TraceSort): TraceSummary[] {
  const value = (t: TraceSummary): number | string => {
    switch (sort.key) {
      case 'root':
        return `${t.root_service}\u0000${t.root_name}`;
      case 'start':
        return t.start_ns;
      case 'duration':
        return t.duration_ns;
      case 'spans':
        return t.span_count;
      case 'errors':
        return t.error_count;
    }
  };
  const sign = sort.desc ? -1 : 1;
  return [...traces].sort((a, b) => {
    const x = value(a);
    const y = value(b);
    return (x < y ? -1 : x > y ? 1 : 0) * sign;
  });
}
