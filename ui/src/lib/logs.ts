// Logs: the typed answers of the native log API (crates/api/src/logs.rs,
// crates/query/src/logs.rs), the filter <-> URL mapping shared by search,
// volume and live tail, and the live list's bookkeeping.
import { getJson, withQuery } from './api';
import { type Attributes, getTypedJson, parseTypedJson } from './attributes';
import { allValues, type UrlValues } from './searchParams';

export const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type Level = (typeof LEVELS)[number] | 'unknown';

/** One record of search or tail. */
export interface LogRecord {
  timestamp_ns: number;
  observed_timestamp_ns: number;
  service_name: string;
  /** OTLP 1–24, 0 when unset. */
  severity_number: number;
  severity_text: string;
  level: Level;
  body: string;
  /** `''` when the record has no trace context. */
  trace_id: string;
  span_id: string;
  attributes: Attributes;
  resource: Attributes;
  scope_name: string;
}

export interface LogPage {
  /** Newest first. */
  logs: LogRecord[];
  /** Absent on the last page. */
  next_cursor?: string;
}

export interface LogVolume {
  interval_ms: number;
  /** Interval starts, epoch ms. */
  times: number[];
  /** Counts per level aligned with `times`; only levels that occur. */
  levels: Partial<Record<Level, number[]>>;
}

export const TEXT_MODES = ['icontains', 'contains', 'words', 'regex'] as const;
export type TextMode = (typeof TEXT_MODES)[number];

/** The filter bar; the names are also the URL's and the API's parameters. */
export interface LogFilter {
  /** Any of these (all when empty). */
  service: string[];
  /** Minimum severity name. */
  level?: Level;
  q?: string;
  /** How `q` matches; the API's default is `icontains`. */
  match?: TextMode;
  /** `name=value`, `name!=value`, `name=~re`, `name!~re`. */
  attr: string[];
  trace_id?: string;
  span_id?: string;
}

export function logFilterFromParams(params: URLSearchParams): LogFilter {
  const text = (name: string) => params.get(name)?.trim() || undefined;
  const level = params.get('level');
  const match = params.get('match');
  return {
    service: allValues(params, 'service'),
    level: (LEVELS as readonly string[]).includes(level ?? '') ? (level as Level) : undefined,
    q: params.get('q') || undefined,
    match: (TEXT_MODES as readonly string[]).includes(match ?? '') ? (match as TextMode) : undefined,
    attr: allValues(params, 'attr'),
    trace_id: text('trace_id')?.toLowerCase(),
    span_id: text('span_id')?.toLowerCase(),
  };
}

/** The URL (and API) parameters of a filter; every name, so stale ones are removed. */
export function logFilterValues(filter: LogFilter): UrlValues {
  return {
    service: filter.service,
    level: filter.level,
    q: filter.q,
    // `match` only means something with a text.
    match: filter.q && filter.match !== 'icontains' ? filter.match : undefined,
    attr: filter.attr.filter((a) => a.trim() !== ''),
    trace_id: filter.trace_id,
    span_id: filter.span_id,
  };
}

/** Whether an attribute condition has a name and one of the four operators. */
export function validAttrFilter(text: string): boolean {
  return /^[^=!]+(=|!=|=~|!~)/.test(text);
}

const rangeParams = (range: { from: number; to: number }) => ({
  start: Math.floor(range.from),
  end: Math.ceil(range.to),
});

/** A page of records, newest first; `cursor` continues a previous page. */
export function searchLogs(
  filter: LogFilter,
  range: { from: number; to: number },
  options: { cursor?: string; limit?: number } = {},
  signal?: AbortSignal,
): Promise<LogPage> {
  return getTypedJson<LogPage>(
    '/api/v1/logs/search',
    { ...logFilterValues(filter), ...rangeParams(range), cursor: options.cursor, limit: options.limit },
    signal,
  );
}

export function fetchVolume(filter: LogFilter, range: { from: number; to: number }, signal?: AbortSignal): Promise<LogVolume> {
  return getJson<LogVolume>('/api/v1/logs/volume', { ...logFilterValues(filter), ...rangeParams(range) }, signal);
}

/** Services that logged in the range (the Loki API's `service_name` label). */
export async function fetchLogServices(range: { from: number; to: number }, signal?: AbortSignal): Promise<string[]> {
  const body = await getJson<{ data: string[] }>('/loki/api/v1/label/service_name/values', rangeParams(range), signal);
  return body.data;
}

/** The Server-Sent Events URL of a live tail (the time range does not apply). */
export function tailUrl(filter: LogFilter): string {
  return withQuery('/api/v1/logs/tail', logFilterValues(filter));
}

/** A `log` event's data. */
export function parseTailEvent(data: string): LogRecord {
  return parseTypedJson<LogRecord>(data);
}

/** Chart colours per level (canvas colours, so no CSS variables). */
export const LEVEL_COLORS: Record<Level, string> = {
  trace: '#94a3b8',
  debug: '#3b82f6',
  info: '#10b981',
  warn: '#f59e0b',
  error: '#ef4444',
  fatal: '#a855f7',
  unknown: '#64748b',
};

/**
 * One chart series per level. The chart overlays bars rather than stacking
 * them, so the largest series come first and smaller ones are drawn on top.
 * Empty intervals are gaps (NaN), not zero-height bars drawn as a line —
 * except at the ends, whose zeros keep the y axis starting at 0 (the first
 * interval may start before the visible range, so the last one counts).
 */
export function volumeSeries(volume: LogVolume): { label: string; color: string; points: [number, number][] }[] {
  return Object.entries(volume.levels)
    .map(([level, counts]) => ({
      label: level,
      color: LEVEL_COLORS[level as Level] ?? LEVEL_COLORS.unknown,
      points: volume.times.map((t, i): [number, number] => {
        const end = i === 0 || i === volume.times.length - 1;
        return [t, counts?.[i] || (end ? 0 : NaN)];
      }),
      total: (counts ?? []).reduce((a, b) => a + b, 0),
    }))
    .sort((a, b) => b.total - a.total)
    .map(({ label, color, points }) => ({ label, color, points }));
}

/** A record in a list, with a key that survives prepending. */
export interface LogEntry {
  key: number;
  record: LogRecord;
}

/**
 * `incoming` (tail order: oldest first) on top of `entries` (newest first),
 * keeping at most `cap`; `trimmed` tells whether older entries were dropped.
 */
export function prependLive(
  entries: LogEntry[],
  incoming: LogEntry[],
  cap: number,
): { entries: LogEntry[]; trimmed: boolean } {
  const merged = [...incoming].reverse().concat(entries);
  return merged.length > cap ? { entries: merged.slice(0, cap), trimmed: true } : { entries: merged, trimmed: false };
}
