// PromQL over the span-metrics series (Tempo metrics-generator names, written
// by crates/connectors): request rate, error share and latency quantiles per
// service or route. Requests are the spans that enter a service — server and
// consumer spans — so a call is not counted again by its client.
import type { ChartSeries } from '../components/Chart';
import type { PromSeries } from './api';
import { selector } from './promql';

export const SPAN_METRICS = {
  calls: 'traces_spanmetrics_calls_total',
  latency: 'traces_spanmetrics_latency_bucket',
};

/** The `http.route` dimension as a label. */
export const ROUTE_LABEL = 'http_route';

const ENTRY_SPANS = 'span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"';
const ERRORS = 'status_code="STATUS_CODE_ERROR"';

export interface SpanFilter {
  service?: string;
  route?: string;
}

function labels(filter: SpanFilter): Record<string, string | undefined> {
  return { service: filter.service, [ROUTE_LABEL]: filter.route };
}

function by(groups: string[], extra: string[] = []): string {
  const all = [...groups, ...extra];
  return all.length ? ` by (${all.join(', ')})` : '';
}

/** Requests per second. */
export function rateQuery(filter: SpanFilter, groups: string[], window: string): string {
  return `sum${by(groups)} (rate(${selector(SPAN_METRICS.calls, labels(filter), [ENTRY_SPANS])}[${window}]))`;
}

/** Failed requests per second. */
export function errorRateQuery(filter: SpanFilter, groups: string[], window: string): string {
  return `sum${by(groups)} (rate(${selector(SPAN_METRICS.calls, labels(filter), [ENTRY_SPANS, ERRORS])}[${window}]))`;
}

/**
 * The share of failed requests, 0 to 1. Groups without errors have no error
 * series, so they are filled with `0 * requests` to read 0 rather than vanish.
 */
export function errorRatioQuery(filter: SpanFilter, groups: string[], window: string): string {
  const total = rateQuery(filter, groups, window);
  return `(${errorRateQuery(filter, groups, window)} or 0 * ${total}) / ${total}`;
}

/** The `quantile` (0–1) of request latency in seconds. */
export function latencyQuery(quantile: number, filter: SpanFilter, groups: string[], window: string): string {
  const buckets = selector(SPAN_METRICS.latency, labels(filter), [ENTRY_SPANS]);
  return `histogram_quantile(${quantile}, sum${by(groups, ['le'])} (rate(${buckets}[${window}])))`;
}

/** A series' route; spans without `http.route` share one line. */
export function routeOf(metric: Record<string, string>): string {
  return metric[ROUTE_LABEL] ?? '(no route)';
}

/** The `n` routes with the most requests over the range (from a rate-by-route range query). */
export function topRoutes(rates: PromSeries[], n = 5): string[] {
  const totals = new Map<string, number>();
  for (const series of rates) {
    const sum = series.values.reduce((total, [, v]) => total + (Number.isFinite(Number(v)) ? Number(v) : 0), 0);
    const route = routeOf(series.metric);
    totals.set(route, (totals.get(route) ?? 0) + sum);
  }
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, n)
    .map(([route]) => route);
}

/**
 * The series of `routes` in their order, values multiplied by `scale`; a
 * route's colour is `palette(its index in routes)`, the same in every panel.
 */
export function routeSeries(
  result: PromSeries[],
  routes: string[],
  palette: (index: number) => string,
  scale = 1,
): ChartSeries[] {
  return routes.flatMap((route, i) => {
    const series = result.find((s) => routeOf(s.metric) === route);
    if (!series) return [];
    const points = series.values
      .map(([t, v]): [number, number] => [Math.round(t * 1000), Number(v) * scale])
      .filter(([, v]) => Number.isFinite(v));
    return [{ label: route, color: palette(i), points }];
  });
}
