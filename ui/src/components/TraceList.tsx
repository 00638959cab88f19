// Trace search results: a sortable table and a duration-over-time scatter plot,
// both opening a trace on click, and the hook that runs the search.
import { useMemo, useState } from 'react';
import { type QueryState, useQuery } from '../lib/api';
import { formatDurationNs, formatNumber, formatTime } from '../lib/format';
import { type Range, useTimeRange } from '../lib/time';
import {
  DEFAULT_SORT,
  searchTraces,
  serviceColorIndex,
  sortTraces,
  type TraceQuery,
  type TraceSort,
  type TraceSortKey,
  type TraceSummary,
} from '../lib/traces';
import { href, navigate } from '../lib/url';
import { Chart, colorAt } from './Chart';
import './traces-list.css';

/** Traces matching `params` in the global time range (reloads on refresh). */
export function useTraceSearch(params: TraceQuery): QueryState<TraceSummary[]> {
  const range = useTimeRange();
  const key = JSON.stringify(params);
  return useQuery((signal) => searchTraces(params, range, signal), [key, range]);
}

const openTrace = (trace: TraceSummary) => navigate(href(`/traces/${trace.trace_id}`));

export function ServiceDot({ service }: { service: string }) {
  return <span className="service-dot" style={{ background: colorAt(serviceColorIndex(service)) }} />;
}

const COLUMNS: { key: TraceSortKey; label: string; numeric?: boolean }[] = [
  { key: 'root', label: 'Trace' },
  { key: 'start', label: 'Start' },
  { key: 'duration', label: 'Duration', numeric: true },
  { key: 'spans', label: 'Spans', numeric: true },
  { key: 'errors', label: 'Errors', numeric: true },
];

/** Services shown per row before "+N". */
const SERVICES_SHOWN = 4;

/**
 * Trace summaries; a click opens the trace (or calls `onSelect`). The order is
 * the caller's when it passes `sort` and `onSortChange` (URL state), else local.
 */
export function TraceTable({
  traces,
  onSelect = openTrace,
  sort: controlledSort,
  onSortChange,
}: {
  traces: TraceSummary[];
  onSelect?: (trace: TraceSummary) => void;
  sort?: TraceSort;
  onSortChange?: (sort: TraceSort) => void;
}) {
  const [localSort, setLocalSort] = useState(DEFAULT_SORT);
  const sort = controlledSort ?? localSort;
  const setSort = onSortChange ?? setLocalSort;
  const rows = useMemo(() => sortTraces(traces, sort), [traces, sort]);
  const longest = Math.max(1, ...traces.map((t) => t.duration_ns));

  const clickHeader = (key: TraceSortKey) =>
    // A new column starts descending: biggest, slowest, newest first.
    setSort(sort.key === key ? { key, desc: !sort.desc } : { key, desc: key !== 'root' });

  return (
    <div className="table-scroll">
      <table className="data trace-table" data-testid="trace-table">
        <thead>
          <tr>
            {COLUMNS.map((column) => (
              <th
                key={column.key}
                className={`sortable ${column.numeric ? 'num' : ''}`}
                onClick={() => clickHeader(column.key)}
                aria-sort={sort.key === column.key ? (sort.desc ? 'descending' : 'ascending') : undefined}
              >
                {column.label}
                {sort.key === column.key && (sort.desc ? ' ▼' : ' ▲')}
              </th>
            ))}
            <th>Services</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((trace) => (
            <tr
              key={trace.trace_id}
              className="clickable"
              data-testid="trace-row"
              data-trace-id={trace.trace_id}
              onClick={() => onSelect(trace)}
            >
              <td className="trace-root">
                <a
                  href={href(`/traces/${trace.trace_id}`)}
                  onClick={(event) => {
                    // Plain clicks go through onSelect; modified ones open a tab.
                    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) {
                      event.stopPropagation();
                      return;
                    }
                    event.preventDefault();
                  }}
                >
                  <ServiceDot service={trace.root_service} />
                  <strong>{trace.root_service}</strong> {trace.root_name}
                </a>
                <span className="muted mono trace-id" title={trace.trace_id}>
                  {trace.trace_id.slice(0, 8)}
                </span>
              </td>
              <td>{formatTime(trace.start_ns / 1e6, true)}</td>
              <td className="num">
                <span className="duration-cell">
                  <span className="duration-bar" style={{ width: `${(trace.duration_ns / longest) * 100}%` }} />
                  {formatDurationNs(trace.duration_ns)}
                </span>
              </td>
              <td className="num">
                {formatNumber(trace.span_count)}
                {trace.matched < trace.span_count && (
                  <span className="muted" title="spans the query selected">
                    {' '}
                    ({trace.matched} matched)
                  </span>
                )}
              </td>
              <td className="num">
                {trace.error_count > 0 ? (
                  <span className="badge error">{trace.error_count}</span>
                ) : (
                  <span className="muted">0</span>
                )}
              </td>
              <td className="trace-services">
                {trace.services.slice(0, SERVICES_SHOWN).map((service) => (
                  <span key={service} className="service-chip">
                    <ServiceDot service={service} />
                    {service}
                  </span>
                ))}
                {trace.services.length > SERVICES_SHOWN && (
                  <span className="muted" title={trace.services.slice(SERVICES_SHOWN).join(', ')}>
                    +{trace.services.length - SERVICES_SHOWN}
                  </span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const ERROR_COLOR = '#ef4444';

/**
 * Trace duration over start time; a point click opens that trace. Traces with
 * errors are their own (red) series.
 */
export function TraceScatter({
  traces,
  range,
  onSelect = openTrace,
  height = 180,
}: {
  traces: TraceSummary[];
  range: Range;
  onSelect?: (trace: TraceSummary) => void;
  height?: number;
}) {
  // The chart rebuilds when its range changes; a caller's range moves with the
  // clock on every render, so it is taken only with new results.
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const pinnedRange = useMemo(() => range, [traces]);
  const groups = useMemo(() => {
    const byStart = [...traces].sort((a, b) => a.start_ns - b.start_ns);
    return [
      { label: 'traces', color: colorAt(0), traces: byStart.filter((t) => t.error_count === 0) },
      { label: 'with errors', color: ERROR_COLOR, traces: byStart.filter((t) => t.error_count > 0) },
    ].filter((group) => group.traces.length > 0);
  }, [traces]);
  const series = useMemo(
    () =>
      groups.map((group) => ({
        label: group.label,
        color: group.color,
        points: group.traces.map((t): [number, number] => [t.start_ns / 1e6, t.duration_ns]),
      })),
    [groups],
  );

  const clickPoint = (seriesIndex: number, timeMs: number, duration: number) => {
    // The chart reports the point's time and value; find the trace it came from.
    let best: TraceSummary | undefined;
    let bestDistance = Infinity;
    for (const trace of groups[seriesIndex]?.traces ?? []) {
      const distance = Math.abs(trace.start_ns / 1e6 - timeMs) + (trace.duration_ns === duration ? 0 : 1e6);
      if (distance < bestDistance) {
        bestDistance = distance;
        best = trace;
      }
    }
    if (best) onSelect(best);
  };

  return (
    <div data-testid="trace-scatter" className="trace-scatter">
      <Chart series={series} mode="points" unit="ns" range={pinnedRange} height={height} onPointClick={clickPoint} />
    </div>
  );
}
