// Time ranges: `from`/`to` are Grafana-style expressions (`now`, `now-15m`,
// `now-2d`) or absolute epoch milliseconds. Relative ranges are resolved
// against the clock on every refresh tick; absolute ones (from drag-to-zoom or
// the absolute inputs) stay put.
import { useEffect, useMemo, useState } from 'react';
import { setParams, useLocation } from './url';

export const DEFAULT_FROM = 'now-1h';
export const DEFAULT_TO = 'now';

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Parses a duration like `15m`, `1h30m`, `500ms` into milliseconds, or null. */
export function parseDuration(text: string): number | null {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g;
  let total = 0;
  let consumed = 0;
  for (const match of text.trim().matchAll(re)) {
    total += parseFloat(match[1]) * UNIT_MS[match[2]];
    consumed += match[0].length;
  }
  return consumed > 0 && consumed === text.trim().length ? total : null;
}

/** Resolves a time expression to epoch milliseconds, or null when it is invalid. */
export function parseTime(text: string, now: number = Date.now()): number | null {
  const value = text.trim();
  if (value === 'now') return now;
  const relative = /^now-(.+)$/.exec(value);
  if (relative) {
    const duration = parseDuration(relative[1]);
    return duration === null ? null : now - duration;
  }
  if (/^\d+$/.test(value)) return Number(value);
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? null : parsed;
}

/** A resolved range in epoch milliseconds. */
export interface Range {
  from: number;
  to: number;
}

export interface TimeRange {
  /** The expressions as in the URL. */
  rawFrom: string;
  rawTo: string;
  /** Resolved epoch milliseconds. */
  from: number;
  to: number;
  /** Auto-refresh interval expression (`''` = off). */
  refresh: string;
  /** Increments on every refresh tick; use it as an effect dependency. */
  tick: number;
}

export const REFRESH_CHOICES = ['', '5s', '15s', '1m'];

let tickCount = 0;
const tickListeners = new Set<() => void>();

/** Forces every panel to reload (the refresh button). */
export function refreshNow(): void {
  tickCount += 1;
  tickListeners.forEach((listener) => listener());
}

/**
 * The global time range of the URL. Relative expressions are resolved when
 * the URL changes and on each refresh tick — not on every render, so the
 * numbers can be used as query dependencies.
 */
export function useTimeRange(): TimeRange {
  const { params } = useLocation();
  const rawFrom = params.get('from') ?? DEFAULT_FROM;
  const rawTo = params.get('to') ?? DEFAULT_TO;
  const refresh = params.get('refresh') ?? '';
  const [tick, setTick] = useState(tickCount);

  useEffect(() => {
    const listener = () => setTick(tickCount);
    tickListeners.add(listener);
    return () => {
      tickListeners.delete(listener);
    };
  }, []);

  useEffect(() => {
    const interval = parseDuration(refresh);
    if (!interval) return;
    const timer = window.setInterval(refreshNow, interval);
    return () => window.clearInterval(timer);
  }, [refresh]);

  return useMemo(() => {
    const now = Date.now();
    const from = parseTime(rawFrom, now) ?? now - 3_600_000;
    const to = parseTime(rawTo, now) ?? now;
    return { rawFrom, rawTo, from, to, refresh, tick };
  }, [rawFrom, rawTo, refresh, tick]);
}

/** Sets an absolute range (drag-to-zoom); every panel follows. */
export function zoomTo(fromMs: number, toMs: number): void {
  setParams({ from: String(Math.floor(fromMs)), to: String(Math.ceil(toMs)) });
}

/** Sets the range expressions as typed. */
export function setRange(rawFrom: string, rawTo: string): void {
  setParams({
    from: rawFrom === DEFAULT_FROM ? undefined : rawFrom,
    to: rawTo === DEFAULT_TO ? undefined : rawTo,
  });
}

/** A step that gives about `points` points over the range, in seconds (at least 1). */
export function stepFor(range: { from: number; to: number }, points = 240): number {
  return Math.max(1, Math.round((range.to - range.from) / 1000 / points));
}
