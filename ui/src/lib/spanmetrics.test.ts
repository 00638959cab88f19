import { describe, expect, it } from 'vitest';
import type { PromSeries } from './api';
import { rangeWindow, rateWindow } from './promql';
import { errorRatioQuery, latencyQuery, rateQuery, routeSeries, topRoutes } from './spanmetrics';

describe('span-metrics queries', () => {
  it('counts entry spans per group with escaped filters', () => {
    expect(rateQuery({ service: 'sh"op' }, ['http_route'], '5m')).toBe(
      'sum by (http_route) (rate(traces_spanmetrics_calls_total{service="sh\\"op", span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"}[5m]))',
    );
    expect(rateQuery({}, [], '1m')).toBe(
      'sum (rate(traces_spanmetrics_calls_total{span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"}[1m]))',
    );
  });

  it('fills groups without errors with zero', () => {
    const query = errorRatioQuery({ service: 'a', route: '/x' }, ['service'], '1m');
    expect(query).toContain('status_code="STATUS_CODE_ERROR"');
    expect(query).toMatch(/^\(sum by \(service\) .* or 0 \* sum by \(service\) .*\) \/ sum by \(service\) /);
    expect(query).toContain('http_route="/x"');
  });

  it('groups latency buckets by le', () => {
    expect(latencyQuery(0.99, { service: 'a' }, ['service'], '2m')).toBe(
      'histogram_quantile(0.99, sum by (service, le) (rate(traces_spanmetrics_latency_bucket{service="a", span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"}[2m])))',
    );
  });

  it('picks windows that span several connector flushes', () => {
    expect(rateWindow(15)).toBe('1m');
    expect(rateWindow(60)).toBe('4m');
    expect(rangeWindow({ from: 0, to: 3_600_000 })).toBe('1h');
    expect(rangeWindow({ from: 0, to: 10_000 })).toBe('1m');
  });
});

describe('routes', () => {
  const series = (route: string | undefined, values: number[]): PromSeries => ({
    metric: route === undefined ? {} : { http_route: route },
    values: values.map((v, i): [number, string] => [1700000000 + i * 15, String(v)]),
  });

  it('ranks routes by requests over the range', () => {
    const rates = [series('/a', [1, 1]), series('/b', [5, 5]), series(undefined, [3, Number.NaN]), series('/c', [0, 0])];
    expect(topRoutes(rates, 3)).toEqual(['/b', '(no route)', '/a']);
  });

  it('keeps the top routes in order, with stable colours and scaled values', () => {
    const result = [series('/a', [0.1]), series('/b', [0.5, 0.25])];
    const picked = routeSeries(result, ['/b', '/missing', '/a'], (i) => `c${i}`, 100);
    expect(picked.map((s) => s.label)).toEqual(['/b', '/a']);
    expect(picked[0].points).toEqual([
      [1700000000000, 50],
      [1700000015000, 25],
    ]);
    expect(picked.map((s) => s.color)).toEqual(['c0', 'c2']);
  });
});
