// Services: request rate, error share, latency and a rate sparkline per
// service from the span metrics, over the global time range; clicking a
// service opens its overview. Below, the service map.
import { useMemo } from 'react';
import type { PromVector } from '../lib/api';
import { getJson, promInstant, promRange, useQuery } from '../lib/api';
import { formatNumber, formatSeconds } from '../lib/format';
import { rangeWindow, rateWindow } from '../lib/promql';
import { errorRatioQuery, latencyQuery, rateQuery } from '../lib/spanmetrics';
import { stepFor, useTimeRange } from '../lib/time';
import { href, navigate, onLinkClick, useParam } from '../lib/url';
import { ServiceMapPanel } from '../components/ServiceMap';
import { Panel, QueryView } from '../components/States';
import './services.css';

interface ServiceRow {
  name: string;
  /** Requests per second (server and consumer spans), averaged over the range. */
  rate?: number;
  /** Failed share of the requests, 0–1. */
  errorRatio?: number;
  /** Latency quantiles in seconds. */
  p50?: number;
  p99?: number;
  /** Requests per second over the range, `[ms, value]`. */
  spark: [number, number][];
}

function byService(vector: PromVector[]): Map<string, number> {
  const values = new Map<string, number>();
  for (const { metric, value } of vector) {
    const number = Number(value[1]);
    if (metric.service && Number.isFinite(number)) values.set(metric.service, number);
  }
  return values;
}

async function loadServices(range: { from: number; to: number }, signal: AbortSignal): Promise<ServiceRow[]> {
  const window = rangeWindow(range);
  const step = stepFor(range, 60);
  const groups = ['service'];
  const instant = (query: string) => promInstant(query, range.to, signal).then(byService);
  const [listed, rate, errors, p50, p99, spark] = await Promise.all([
    // Services with spans but no span metrics (connector off) still get a row.
    getJson<{ services: string[] }>('/api/v1/services', { from: range.from, until: range.to }, signal),
    instant(rateQuery({}, groups, window)),
    instant(errorRatioQuery({}, groups, window)),
    instant(latencyQuery(0.5, {}, groups, window)),
    instant(latencyQuery(0.99, {}, groups, window)),
    promRange(rateQuery({}, groups, rateWindow(step)), range.from, range.to, step, signal),
  ]);
  const sparks = new Map(
    spark.map((s) => [s.metric.service, s.values.map(([t, v]): [number, number] => [t * 1000, Number(v)])]),
  );
  const names = new Set([...listed.services, ...rate.keys()]);
  return [...names].map((name) => ({
    name,
    rate: rate.get(name),
    errorRatio: errors.get(name),
    p50: p50.get(name),
    p99: p99.get(name),
    spark: sparks.get(name) ?? [],
  }));
}

type SortKey = 'name' | 'rate' | 'errors' | 'p50' | 'p99';

const COLUMNS: { key: SortKey; title: string; numeric: boolean; value: (row: ServiceRow) => number | string | undefined }[] = [
  { key: 'name', title: 'Service', numeric: false, value: (r) => r.name },
  { key: 'rate', title: 'Requests/s', numeric: true, value: (r) => r.rate },
  { key: 'errors', title: 'Errors', numeric: true, value: (r) => r.errorRatio },
  { key: 'p50', title: 'P50', numeric: true, value: (r) => r.p50 },
  { key: 'p99', title: 'P99', numeric: true, value: (r) => r.p99 },
];

/** Rows sorted by `sort` (`rate`, `-rate`, …); rows without a value go last either way. */
function sortRows(rows: ServiceRow[], sort: string): ServiceRow[] {
  const descending = sort.startsWith('-');
  const column = COLUMNS.find((c) => c.key === sort.replace(/^-/, '')) ?? COLUMNS[1];
  return [...rows].sort((a, b) => {
    const x = column.value(a);
    const y = column.value(b);
    if (x === undefined || y === undefined) return x === y ? a.name.localeCompare(b.name) : x === undefined ? 1 : -1;
    const order = typeof x === 'string' ? x.localeCompare(String(y)) : x - (y as number);
    return (descending ? -order : order) || a.name.localeCompare(b.name);
  });
}

export default function Services() {
  const range = useTimeRange();
  const [sort, setSort] = useParam('sort', '-rate');
  const [filter, setFilter] = useParam('filter');
  const [focus, setFocus] = useParam('focus');
  const query = useQuery((signal) => loadServices(range, signal), [range]);

  const rows = useMemo(() => {
    const needle = filter.toLowerCase();
    const matching = (query.data ?? []).filter((row) => row.name.toLowerCase().includes(needle));
    return sortRows(matching, sort);
  }, [query.data, filter, sort]);

  const openService = (service: string) => navigate(href('/', { service }));

  return (
    <>
      <div className="toolbar">
        <label>
          Filter
          <input
            value={filter}
            onChange={(e) => setFilter(e.target.value)}
            placeholder="service name"
            data-testid="services-filter"
          />
        </label>
      </div>
      <Panel title="Services" className="services-panel">
        <QueryView
          query={{ ...query, data: query.data === undefined ? undefined : rows }}
          isEmpty={(r) => r.length === 0}
          empty={filter ? `No service matches "${filter}".` : 'No services with spans in this time range.'}
        >
          {(data) => (
            <ServicesTable rows={data} sort={sort} onSort={setSort} range={range} onOpen={openService} />
          )}
        </QueryView>
      </Panel>
      <ServiceMapPanel focus={focus} onFocus={setFocus} onOpenService={openService} />
    </>
  );
}

function ServicesTable({
  rows,
  sort,
  onSort,
  range,
  onOpen,
}: {
  rows: ServiceRow[];
  sort: string;
  onSort: (sort: string) => void;
  range: { from: number; to: number };
  onOpen: (service: string) => void;
}) {
  const sortKey = sort.replace(/^-/, '');
  const clickSort = (key: SortKey) => {
    // Numbers start high-to-low, names A to Z; a second click flips.
    if (key === sortKey) onSort(sort.startsWith('-') ? key : `-${key}`);
    else onSort(key === 'name' ? key : `-${key}`);
  };
  return (
    <div className="table-scroll services-scroll">
      <table className="data services-table" data-testid="services-table">
        <thead>
          <tr>
            {COLUMNS.map((column) => (
              <th
                key={column.key}
                className={`sortable${column.numeric ? ' num' : ''}`}
                onClick={() => clickSort(column.key)}
                aria-sort={column.key === sortKey ? (sort.startsWith('-') ? 'descending' : 'ascending') : undefined}
              >
                {column.title}
                {column.key === sortKey ? (sort.startsWith('-') ? ' ▼' : ' ▲') : ''}
              </th>
            ))}
            <th>Requests over time</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.name} className="clickable" onClick={() => onOpen(row.name)} data-testid="service-row" data-service={row.name}>
              <td>
                <a href={href('/', { service: row.name })} onClick={(e) => { e.stopPropagation(); onLinkClick(e); }}>
                  {row.name}
                </a>
              </td>
              <td className="num">{row.rate === undefined ? '—' : formatNumber(row.rate)}</td>
              <td className="num">
                <ErrorBadge ratio={row.errorRatio} />
              </td>
              <td className="num">{row.p50 === undefined ? '—' : formatSeconds(row.p50)}</td>
              <td className="num">{row.p99 === undefined ? '—' : formatSeconds(row.p99)}</td>
              <td className="spark-cell">
                <Sparkline points={row.spark} range={range} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ErrorBadge({ ratio }: { ratio: number | undefined }) {
  if (ratio === undefined) return <span className="muted">—</span>;
  const percent = ratio * 100;
  const level = percent >= 5 ? 'error' : percent >= 1 ? 'warn' : 'ok';
  return <span className={`badge ${level}`}>{percent === 0 ? '0%' : `${formatNumber(percent, 2)}%`}</span>;
}

const SPARK_W = 140;
const SPARK_H = 26;

/** A small area chart of one series over the range, without axes. */
function Sparkline({ points, range }: { points: [number, number][]; range: { from: number; to: number } }) {
  const finite = points.filter(([, v]) => Number.isFinite(v));
  if (finite.length < 2) return <span className="muted">—</span>;
  const max = Math.max(...finite.map(([, v]) => v)) || 1;
  const span = range.to - range.from || 1;
  const xy = finite.map(
    ([t, v]) => `${(((t - range.from) / span) * SPARK_W).toFixed(1)},${(SPARK_H - 1 - (v / max) * (SPARK_H - 3)).toFixed(1)}`,
  );
  const first = xy[0].split(',')[0];
  const last = xy[xy.length - 1].split(',')[0];
  return (
    <svg className="sparkline" width={SPARK_W} height={SPARK_H} aria-hidden="true">
      <path className="sparkline-area" d={`M${first},${SPARK_H} L${xy.join(' L')} L${last},${SPARK_H} Z`} />
      <polyline className="sparkline-line" points={xy.join(' ')} />
    </svg>
  );
}
