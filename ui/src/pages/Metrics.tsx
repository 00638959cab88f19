// Metrics: an explorer of several PromQL queries at once — each drawn as a
// graph over the range or listed as a table of instant values — and the
// System preset, a node_exporter dashboard per host. All state is in the URL:
// `q0`/`l0`/`v0`… for the queries, `preset=system&instance=…` for the preset.
import { useEffect, useMemo, useState } from 'react';
import { getJson, promRange, useQuery } from '../lib/api';
import { formatTime, formatValue } from '../lib/format';
import { HOST_SERIES, systemPanels } from '../lib/hostmetrics';
import type { ExploreQuery } from '../lib/promql';
import { exploreParams, legendFor, rateWindow, readExploreQueries, toChartSeries } from '../lib/promql';
import { stepFor, type Range, useTimeRange } from '../lib/time';
import { href, onLinkClick, setParams, useLocation, useParam } from '../lib/url';
import { Chart } from '../components/Chart';
import { PromChartPanel } from '../components/PromChart';
import { PromqlEditor } from '../components/PromqlEditor';
import { Empty, QueryView } from '../components/States';
import './metrics.css';

export default function Metrics() {
  const [preset] = useParam('preset');
  return (
    <>
      <nav className="metrics-tabs" aria-label="Metrics views">
        <a href={href('/explore')} onClick={onLinkClick} className={preset ? '' : 'active'} data-testid="metrics-tab-explore">
          Explore
        </a>
        <a
          href={href('/explore', { preset: 'system' })}
          onClick={onLinkClick}
          className={preset === 'system' ? 'active' : ''}
          data-testid="metrics-preset-system"
        >
          System
        </a>
      </nav>
      {preset === 'system' ? <SystemDashboard /> : <Explorer />}
    </>
  );
}

// --- Explorer ---------------------------------------------------------------------

const EMPTY_QUERY: ExploreQuery = { expr: '', legend: '', view: 'graph' };

function Explorer() {
  const { params } = useLocation();
  const range = useTimeRange();
  const committed = readExploreQueries(params);
  const committedKey = JSON.stringify(committed);
  // What is typed but not run yet; follows the URL when it changes (back button, links).
  const [drafts, setDrafts] = useState<ExploreQuery[]>(committed);
  useEffect(() => setDrafts(JSON.parse(committedKey)), [committedKey]);

  const commit = (next: ExploreQuery[]) => {
    setDrafts(next);
    setParams(exploreParams(next, committed.length));
  };
  const update = (index: number, change: Partial<ExploreQuery>) =>
    drafts.map((q, i) => (i === index ? { ...q, ...change } : q));

  return (
    <>
      {drafts.map((draft, index) => (
        <QueryRow
          key={index}
          index={index}
          draft={draft}
          committed={committed[index] ?? EMPTY_QUERY}
          range={range}
          onDraft={(expr) => setDrafts(update(index, { expr }))}
          onRun={() => commit(drafts)}
          onChange={(change) => commit(update(index, change))}
          onRemove={drafts.length > 1 ? () => commit(drafts.filter((_, i) => i !== index)) : undefined}
        />
      ))}
      <div className="toolbar">
        <button className="primary" onClick={() => commit(drafts)} data-testid="metrics-run">
          Run queries
        </button>
        <button onClick={() => commit([...drafts, EMPTY_QUERY])} data-testid="metrics-add-query">
          + Add query
        </button>
        <span className="muted metrics-hint">Enter runs · with suggestions open, Enter or Tab takes one and Shift+Enter runs · Ctrl+Space suggests</span>
      </div>
    </>
  );
}

const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

function QueryRow({
  index,
  draft,
  committed,
  range,
  onDraft,
  onRun,
  onChange,
  onRemove,
}: {
  index: number;
  draft: ExploreQuery;
  committed: ExploreQuery;
  range: Range;
  onDraft: (expr: string) => void;
  onRun: () => void;
  onChange: (change: Partial<ExploreQuery>) => void;
  onRemove?: () => void;
}) {
  const [legend, setLegend] = useState(draft.legend);
  useEffect(() => setLegend(draft.legend), [draft.legend]);
  const commitLegend = () => {
    if (legend !== draft.legend) onChange({ legend });
  };
  const letter = LETTERS[index % LETTERS.length];

  return (
    <section className="panel metrics-query" data-testid="metrics-query" data-index={index}>
      <div className="metrics-query-editor">
        <span className="metrics-query-letter">{letter}</span>
        <PromqlEditor value={draft.expr} onChange={onDraft} onRun={onRun} range={range} />
        <input
          className="metrics-legend"
          value={legend}
          placeholder="Legend, e.g. {{instance}}"
          title="Legend format: {{label}} is replaced by the series' label value"
          onChange={(e) => setLegend(e.target.value)}
          onBlur={commitLegend}
          onKeyDown={(e) => e.key === 'Enter' && commitLegend()}
          data-testid="metrics-legend"
        />
        <div className="segmented" role="group" aria-label="View">
          {(['graph', 'table'] as const).map((view) => (
            <button
              key={view}
              className={draft.view === view ? 'active' : ''}
              aria-pressed={draft.view === view}
              onClick={() => onChange({ view })}
              data-testid={`metrics-view-${view}`}
            >
              {view === 'graph' ? 'Graph' : 'Table'}
            </button>
          ))}
        </div>
        {onRemove && (
          <button onClick={onRemove} title={`Remove query ${letter}`} aria-label={`Remove query ${letter}`} data-testid="metrics-remove-query">
            ✕
          </button>
        )}
      </div>
      <div className="metrics-query-result">
        {!committed.expr ? (
          <Empty>Type a PromQL query and press Enter.</Empty>
        ) : committed.view === 'table' ? (
          <InstantTable expr={committed.expr} legend={committed.legend} range={range} />
        ) : (
          <RangeGraph expr={committed.expr} legend={committed.legend} range={range} />
        )}
      </div>
    </section>
  );
}

/** More series than this make an unreadable chart (and a slow one). */
const MAX_SERIES = 60;

function RangeGraph({ expr, legend, range }: { expr: string; legend: string; range: Range }) {
  const step = stepFor(range);
  const query = useQuery((signal) => promRange(expr, range.from, range.to, step, signal), [expr, range, step]);
  // Memoised: a new series array would rebuild the chart on every keystroke in the editor.
  const result = useMemo(() => {
    if (!query.data) return undefined;
    const all = toChartSeries(query.data, legend);
    return { total: all.length, drawn: all.slice(0, MAX_SERIES) };
  }, [query.data, legend]);
  return (
    <QueryView query={{ ...query, data: result }} isEmpty={(r) => r.total === 0} empty="The query returned no series in this time range.">
      {({ total, drawn }) => (
        <div data-testid="metrics-result-chart">
          <Chart series={drawn} range={range} height={240} />
          <div className="muted metrics-result-note">
            {total} series · step {step}s
            {total > MAX_SERIES && ` · first ${MAX_SERIES} drawn; aggregate (sum by …) or narrow the selector`}
          </div>
        </div>
      )}
    </QueryView>
  );
}

type InstantData =
  | { resultType: 'vector'; result: { metric: Record<string, string>; value: [number, string] }[] }
  | { resultType: 'matrix'; result: { metric: Record<string, string>; values: [number, string][] }[] }
  | { resultType: 'scalar' | 'string'; result: [number, string] };

interface InstantRow {
  series: string;
  time: number;
  value: string;
}

function instantRows(data: InstantData, legend: string): InstantRow[] {
  switch (data.resultType) {
    case 'vector':
      return data.result.map((s) => ({ series: legendFor(s.metric, legend), time: s.value[0], value: s.value[1] }));
    case 'matrix':
      // A range selector (`x[5m]`) evaluated instantly: every raw sample.
      return data.result.flatMap((s) =>
        s.values.map(([time, value]) => ({ series: legendFor(s.metric, legend), time, value })),
      );
    default:
      return [{ series: data.resultType, time: data.result[0], value: data.result[1] }];
  }
}

function InstantTable({ expr, legend, range }: { expr: string; legend: string; range: Range }) {
  const query = useQuery(
    (signal) =>
      getJson<{ data: InstantData }>('/prometheus/api/v1/query', { query: expr, time: range.to / 1000 }, signal).then(
        (body) => body.data,
      ),
    [expr, range],
  );
  const rows = useMemo(() => (query.data ? instantRows(query.data, legend) : undefined), [query.data, legend]);
  return (
    <QueryView query={{ ...query, data: rows }} isEmpty={(r) => r.length === 0} empty="The query returned no series at the end of the range.">
      {(all) => (
        <div data-testid="metrics-result-table">
          <div className="table-scroll">
            <table className="data">
              <thead>
                <tr>
                  <th>Series</th>
                  <th>Time</th>
                  <th className="num">Value</th>
                </tr>
              </thead>
              <tbody>
                {all.map((row, i) => (
                  <tr key={i}>
                    <td className="mono metrics-series-cell">{row.series}</td>
                    <td className="muted">{formatTime(row.time * 1000, true)}</td>
                    <td className="num mono" title={row.value}>
                      {Number.isFinite(Number(row.value)) ? formatValue(Number(row.value)) : row.value}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div className="muted metrics-result-note">
            {all.length} {all.length === 1 ? 'row' : 'rows'} at {formatTime(range.to)}
          </div>
        </div>
      )}
    </QueryView>
  );
}

// --- System preset ------------------------------------------------------------------

function SystemDashboard() {
  const range = useTimeRange();
  const [instance, setInstance] = useParam('instance');
  const instances = useQuery(
    (signal) =>
      getJson<{ data: string[] }>(
        '/prometheus/api/v1/label/instance/values',
        { 'match[]': HOST_SERIES, start: Math.floor(range.from / 1000), end: Math.ceil(range.to / 1000) },
        signal,
      ).then((body) => body.data),
    [range],
  );
  const selected = instance || instances.data?.[0] || '';
  const window = rateWindow(stepFor(range));
  const panels = useMemo(() => (selected ? systemPanels(selected, window) : []), [selected, window]);

  return (
    <div data-testid="system-dashboard">
      <QueryView
        query={instances}
        isEmpty={(list) => list.length === 0}
        empty={
          <>
            No node_exporter series in this time range. Scrape a node_exporter with <code>scrape_configs</code> in{' '}
            <code>vispyr.yaml</code> (for example <code>targets: ["localhost:9100"]</code>).
          </>
        }
      >
        {(list) => (
          <>
            <div className="toolbar">
              <label>
                Host
                <select value={selected} onChange={(e) => setInstance(e.target.value)} data-testid="system-instance">
                  {(list.includes(selected) ? list : [selected, ...list]).map((name) => (
                    <option key={name} value={name}>
                      {name}
                    </option>
                  ))}
                </select>
              </label>
            </div>
            <div className="grid-2 system-grid">
              {panels.map((panel) => (
                <PromChartPanel
                  key={panel.id}
                  title={panel.title}
                  queries={panel.queries}
                  unit={panel.unit}
                  range={range}
                  testId={`system-panel-${panel.id}`}
                />
              ))}
            </div>
          </>
        )}
      </QueryView>
    </div>
  );
}

