// Profiles: pick a service, profile type and label filters; see the samples
// over time, the flamegraph and function table (or a function's callers and
// callees), compare two selections as a diff flamegraph, and edit the saved
// view's rules (hide, collapse, rename, tag) from the frames themselves.
//
// Everything is in the URL: `query` (the selector), `mode=diff`, `display`,
// `fn` (sandwich), `rules`, `group_by=tag`, `max_nodes`, `search`, `split`,
// `baseline`/`comparison` and their `_from`/`_to`, and `trace_id`/`span_id`
// for the samples of one trace or span (`service` picks the first service).
import { useCallback, useMemo, useState } from 'react';
import type { ReactNode } from 'react';
import { Chart } from '../components/Chart';
import type { ChartSeries } from '../components/Chart';
import { Flamegraph } from '../components/Flamegraph';
import type { FrameAction } from '../components/Flamegraph';
import { Empty, ErrorState, Loading, Panel, QueryView } from '../components/States';
import { useQuery } from '../lib/api';
import { callersOf, calleesOf, diffColor, fromDiff, matchedTotal, npmPackage, percent, searchMatcher } from '../lib/flamegraph';
import type { FlameNode } from '../lib/flamegraph';
import { formatDurationNs, formatTime } from '../lib/format';
import {
  equalityValue,
  exactPattern,
  exportUrl,
  fetchDiff,
  fetchFlamegraph,
  fetchLabelNames,
  fetchPresets,
  fetchTable,
  fetchTimeline,
  formatSample,
  formatSelector,
  parseSelector,
  profileTypeLabel,
  sampleUnit,
  withEquality,
} from '../lib/profiles';
import type { FlamegraphAnswer, Rule, Selector, SelectionParams, ViewParams } from '../lib/profiles';
import { parseTime, useTimeRange } from '../lib/time';
import { href, onLinkClick, setParams, useLocation } from '../lib/url';
import { BesideTable, DiffTable, FunctionTable, joinTables } from '../components/FunctionTable';
import { RulesEditor } from './profiles/RulesEditor';
import type { RuleDraft } from './profiles/RulesEditor';
import { QueryInput, SelectorBar, useSelectorChoices } from './profiles/SelectorBar';
import type { RangeKey } from './profiles/SelectorBar';
import './profiles/profiles.css';

const DEFAULT_MAX_NODES = 2048;
const MAX_NODES_CHOICES = [512, 1024, 2048, 4096, 8192, 16384];
type Display = 'both' | 'flamegraph' | 'table' | 'sandwich';
const DISPLAYS: [Display, string][] = [
  ['both', 'Both'],
  ['flamegraph', 'Flamegraph'],
  ['table', 'Table'],
  ['sandwich', 'Sandwich'],
];

/** The time range, resolved once per URL change or refresh tick (not per render). */
function useRange(): RangeKey {
  const { from, to, rawFrom, rawTo, tick } = useTimeRange();
  // eslint-disable-next-line react-hooks/exhaustive-deps
  return useMemo(() => ({ from, to }), [rawFrom, rawTo, tick]);
}

/** Which samples an answer covers when a span or trace was asked for. */
type Scope = 'all' | 'span' | 'trace';

/**
 * The flamegraph of a selection. A span whose samples carry no span id has
 * none: then the trace's samples are asked for (which the server may in turn
 * approximate by the trace's services during the trace).
 */
async function flamegraphOf(
  selection: SelectionParams,
  view: ViewParams,
  signal: AbortSignal,
): Promise<{ answer: FlamegraphAnswer; scope: Scope; selection: SelectionParams }> {
  if (selection.spanId) {
    const bySpan = { ...selection, traceId: undefined };
    const answer = await fetchFlamegraph(bySpan, view, signal);
    if (answer.flamegraph.summary.total > 0 || !selection.traceId) return { answer, scope: 'span', selection: bySpan };
  }
  if (selection.traceId) {
    const byTrace = { ...selection, spanId: undefined };
    return { answer: await fetchFlamegraph(byTrace, view, signal), scope: 'trace', selection: byTrace };
  }
  return { answer: await fetchFlamegraph(selection, view, signal), scope: 'all', selection };
}

function Segmented<T extends string>({
  value,
  choices,
  onChange,
  testId,
}: {
  value: T;
  choices: [T, string][];
  onChange: (value: T) => void;
  testId?: string;
}) {
  return (
    <div className="segmented" role="group" data-testid={testId}>
      {choices.map(([choice, label]) => (
        <button
          key={choice}
          className={choice === value ? 'active' : ''}
          aria-pressed={choice === value}
          onClick={() => onChange(choice)}
        >
          {label}
        </button>
      ))}
    </div>
  );
}

function NoProfiles() {
  const origin = window.location.origin;
  return (
    <Empty>
      <div className="profiles-onboarding" data-testid="profiles-empty">
        <p>No profiles in this time range. Pyroscope SDKs send them unchanged — point one at this server:</p>
        <pre>{`// Node.js: npm install @pyroscope/nodejs
const Pyroscope = require('@pyroscope/nodejs');
Pyroscope.init({ serverAddress: '${origin}', appName: 'my-service' });
Pyroscope.start();`}</pre>
        <pre>{`# Python: pip install pyroscope-io
import pyroscope
pyroscope.configure(application_name="my-service", server_address="${origin}")`}</pre>
        <p className="muted">OpenTelemetry profilers can export to OTLP (:4317, or :4318 /v1development/profiles).</p>
      </div>
    </Empty>
  );
}

/** Samples of the selection over time, split by a label; dragging zooms (or picks a diff side's range). */
function Timeline({
  selection,
  range,
  split,
  onSplit,
  onSelect,
  title,
  height = 160,
}: {
  selection: SelectionParams | undefined;
  range: RangeKey;
  split?: string;
  onSplit?: (label: string) => void;
  onSelect?: (from: number, to: number) => void;
  title: ReactNode;
  height?: number;
}) {
  const typeId = selection ? parseSelector(selection.query)?.type : undefined;
  const timeline = useQuery(
    (signal) => (selection ? fetchTimeline(selection, split ? [split] : [], signal) : undefined),
    [selection, split],
  );
  const labels = useQuery(
    (signal) => (selection && onSplit ? fetchLabelNames(selection.query, range.from, range.to, signal) : undefined),
    [selection?.query, range, !!onSplit],
  );
  const { unit, scale } = sampleUnit(typeId);
  const series: ChartSeries[] = useMemo(
    () =>
      (timeline.data?.series ?? []).map((s) => ({
        label: Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(', ') || 'total',
        points: s.points.map(([t, v]) => [t, v * scale] as [number, number]),
      })),
    [timeline.data, scale],
  );
  const step = timeline.data ? ` (per ${formatDurationNs(timeline.data.step_ms * 1e6)})` : '';
  return (
    <Panel
      title={
        <>
          {title}
          <span className="muted">{step}</span>
        </>
      }
      actions={
        onSplit && (
          <label className="inline-label">
            Split by
            <select value={split ?? ''} onChange={(e) => onSplit(e.target.value)} data-testid="profile-split">
              <option value="">nothing</option>
              {[...new Set([...(split ? [split] : []), ...(labels.data ?? [])])]
                .filter((name) => name !== '__name__')
                .map((name) => (
                  <option key={name}>{name}</option>
                ))}
            </select>
          </label>
        )
      }
    >
      <QueryView query={timeline} isEmpty={(data) => data.series.length === 0} empty="No samples in this time range.">
        {() => (
          // Bars read best for one series; split series would hide each other's bars.
          <Chart series={series} unit={unit} height={height} range={range} mode={split ? 'line' : 'bars'} onSelect={onSelect} />
        )}
      </QueryView>
    </Panel>
  );
}

/** A draft rule for a frame: collapse suggests its npm package when it has one. */
function draftFor(kind: Rule['kind'], name: string): Rule {
  const exact = exactPattern(name);
  switch (kind) {
    case 'hide':
      return { kind, field: 'name', pattern: exact };
    case 'collapse': {
      const pkg = npmPackage(name);
      return pkg ? { kind, field: 'file', pattern: `node_modules/${pkg}/**` } : { kind, field: 'name', pattern: exact };
    }
    case 'rename':
      return { kind, pattern: exact, replacement: name };
    case 'tag':
      return { kind, field: 'name', pattern: exact, name: '', color: '#8e44ad' };
  }
}

export default function Profiles() {
  const { params } = useLocation();
  const range = useRange();
  const rawQuery = params.get('query');
  const selector: Selector = useMemo(() => parseSelector(rawQuery ?? '') ?? { type: '', matchers: [] }, [rawQuery]);
  const spanId = params.get('span_id') || undefined;
  const traceId = params.get('trace_id') || undefined;
  const linkedService = params.get('service') || undefined;
  const mode = params.get('mode') === 'diff' ? 'diff' : 'single';
  const rules = params.get('rules') || 'default';
  const groupByTag = params.get('group_by') === 'tag';
  const maxNodes = Number(params.get('max_nodes')) || DEFAULT_MAX_NODES;
  const search = params.get('search') ?? '';
  const [rulesVersion, setRulesVersion] = useState(0);
  const [rulesOpen, setRulesOpen] = useState(false);
  const [draft, setDraft] = useState<RuleDraft | null>(null);
  const view: ViewParams = useMemo(
    () => ({ rules, groupByTag, maxNodes }),
    // The saved view changed on the server: same parameters, new answer.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [rules, groupByTag, maxNodes, rulesVersion],
  );

  const setSelector = useCallback(
    (next: Selector, replace = false) => {
      const current = new URLSearchParams(window.location.search);
      const changes: Record<string, string | undefined> = { query: formatSelector(next), service: undefined };
      // A comparison's sides follow the service and type.
      for (const side of ['baseline', 'comparison']) {
        const raw = current.get(side);
        const parsed = raw ? parseSelector(raw) : null;
        if (!parsed) continue;
        const moved = withEquality({ ...parsed, type: next.type }, 'service_name', equalityValue(next, 'service_name'));
        changes[side] = formatSelector(moved);
      }
      setParams(changes, replace);
    },
    [],
  );
  // A link may name a service instead of a query.
  const initial = rawQuery === null && linkedService ? withEquality(selector, 'service_name', linkedService) : selector;
  const choices = useSelectorChoices(initial, rawQuery !== null, range, !spanId && !traceId, setSelector);
  const presets = useQuery((signal) => fetchPresets(signal), []);

  const ready = rawQuery !== null && selector.type !== '';
  const selection: SelectionParams | undefined = useMemo(
    () => (ready ? { query: formatSelector(selector), from: range.from, until: range.to, spanId, traceId } : undefined),
    [ready, selector, range, spanId, traceId],
  );
  const format = useCallback((value: number) => formatSample(value, selector.type), [selector.type]);

  const openDraft = (rule: Rule) => {
    setDraft({ rule });
    setRulesOpen(true);
    window.setTimeout(() => document.querySelector('.rules-editor')?.scrollIntoView({ behavior: 'smooth', block: 'nearest' }));
  };
  const onRulesChanged = () => {
    setRulesVersion((v) => v + 1);
    // Rules just saved belong to the saved view: show it.
    if (!rules.split(',').includes('default')) setParams({ rules: undefined });
  };

  const ruleChoices: [string, string][] = [
    ['default', 'Saved view'],
    ['none', 'Raw frames (no rules)'],
    ...Object.keys(presets.data ?? {}).map((name): [string, string] => [`preset:${name}`, `Preset: ${name}`]),
  ];
  if (!ruleChoices.some(([value]) => value === rules)) ruleChoices.push([rules, rules]);

  if (choices.services && choices.services.length === 0 && !spanId && !traceId) {
    return <NoProfiles />;
  }

  return (
    <div className="profiles-page" data-testid="profiles-page">
      <SelectorBar
        selector={selector}
        services={choices.services}
        types={choices.types}
        range={range}
        onChange={setSelector}
      />
      <div className="toolbar profile-view-bar">
        <Segmented
          value={mode}
          choices={[
            ['single', 'Single view'],
            ['diff', 'Comparison (diff)'],
          ]}
          onChange={(next) => setParams({ mode: next === 'diff' ? 'diff' : undefined })}
          testId="profile-mode"
        />
        <label className="inline-label">
          View
          <select value={rules} onChange={(e) => setParams({ rules: e.target.value === 'default' ? undefined : e.target.value })} data-testid="profile-rules">
            {ruleChoices.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label className="inline-check">
          <input
            type="checkbox"
            checked={groupByTag}
            onChange={(e) => setParams({ group_by: e.target.checked ? 'tag' : undefined })}
            data-testid="profile-group-by-tag"
          />
          Group by tag
        </label>
        <button className={rulesOpen ? 'active' : ''} onClick={() => setRulesOpen(!rulesOpen)} data-testid="profile-edit-rules">
          Edit rules
        </button>
        <label className="inline-label">
          Max nodes
          <select value={maxNodes} onChange={(e) => setParams({ max_nodes: Number(e.target.value) === DEFAULT_MAX_NODES ? undefined : e.target.value })}>
            {[...new Set([...MAX_NODES_CHOICES, maxNodes])].sort((a, b) => a - b).map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
      </div>
      {rulesOpen && (
        <RulesEditor
          draft={draft}
          presets={presets.data}
          onDraft={setDraft}
          onChanged={onRulesChanged}
          onClose={() => {
            setRulesOpen(false);
            setDraft(null);
          }}
        />
      )}
      {!ready ? (
        choices.services === undefined ? <Loading /> : <Loading label="Choosing a profile type…" />
      ) : mode === 'diff' ? (
        <DiffMode selector={selector} range={range} view={view} search={search} format={format} />
      ) : (
        <SingleMode
          selection={selection!}
          range={range}
          view={view}
          search={search}
          format={format}
          typeLabel={profileTypeLabel(selector.type)}
          onDraft={openDraft}
        />
      )}
    </div>
  );
}

function SearchInput({ search }: { search: string }) {
  const [draft, setDraft] = useState(search);
  const [shown, setShown] = useState(search);
  if (search !== shown) {
    setShown(search);
    setDraft(search);
  }
  return (
    <input
      type="search"
      className="profile-search"
      placeholder="Search functions"
      value={draft}
      onChange={(event) => {
        setDraft(event.target.value);
        setParams({ search: event.target.value }, true);
      }}
      aria-label="Search functions"
      data-testid="profile-search"
    />
  );
}

function ScopeBanner({ scope, answer, spanId, traceId }: { scope: Scope; answer: FlamegraphAnswer; spanId?: string; traceId?: string }) {
  if (!spanId && !traceId) return null;
  let text: string;
  if (scope === 'span') text = `Samples taken in span ${spanId}.`;
  else if (spanId) text = `No samples carry span ${spanId}'s id; showing its trace ${traceId}.`;
  else text = `Samples of trace ${traceId}.`;
  return (
    <div className={`profile-banner ${answer.approximate ? 'warn' : ''}`} data-testid="profile-scope">
      <span>
        {text} {answer.note && <span className="profile-note">{answer.note}</span>}
      </span>
      {traceId && (
        <a href={href(`/traces/${traceId}`, spanId ? { span: spanId } : {})} onClick={onLinkClick}>
          Open trace
        </a>
      )}
      <button onClick={() => setParams({ span_id: undefined, trace_id: undefined })} data-testid="profile-scope-clear">
        Show all samples
      </button>
    </div>
  );
}

function Summary({ answer, format, search }: { answer: FlamegraphAnswer; format: (v: number) => string; search: string }) {
  const { total, node_count, pruned_value } = answer.flamegraph.summary;
  const matches = searchMatcher(search);
  return (
    <div className="profile-summary muted" data-testid="profile-summary">
      Total <strong>{format(total)}</strong> · {node_count.toLocaleString()} nodes
      {pruned_value > 0 && (
        <>
          {' '}
          · {percent(pruned_value, total)} in <em>other</em> nodes (pruned; raise Max nodes to see more)
        </>
      )}
      {matches && <> · search matches {percent(matchedTotal(answer.flamegraph.root, matches), total)}</>}
      {answer.missing_stacks > 0 && <> · {answer.missing_stacks} stacks missing</>}
    </div>
  );
}

function TagLegend({ tags }: { tags: { name: string; color?: string }[] }) {
  if (tags.length === 0) return null;
  return (
    <div className="profile-tags">
      {tags.map((tag) => (
        <span key={tag.name} className="profile-tag">
          <span className="rules-swatch" style={{ background: tag.color ?? 'var(--fg-muted)' }} />
          {tag.name}
        </span>
      ))}
    </div>
  );
}

function SingleMode({
  selection,
  range,
  view,
  search,
  format,
  typeLabel,
  onDraft,
}: {
  selection: SelectionParams;
  range: RangeKey;
  view: ViewParams;
  search: string;
  format: (value: number) => string;
  typeLabel: string;
  onDraft: (rule: Rule) => void;
}) {
  const { params } = useLocation();
  const display = (DISPLAYS.find(([d]) => d === params.get('display'))?.[0] ?? 'both') as Display;
  const fn = params.get('fn') ?? undefined;
  const split = params.get('split') ?? undefined;
  const [selected, setSelected] = useState<string>();
  const flame = useQuery((signal) => flamegraphOf(selection, view, signal), [selection, view]);
  // The table covers what the flamegraph does (a span's or its trace's samples).
  const scoped = flame.data?.selection;
  const needsTable = display !== 'flamegraph';
  const table = useQuery(
    (signal) => (scoped && needsTable ? fetchTable(scoped, view, signal) : undefined),
    [scoped, view, needsTable],
  );

  const actions = (node: FlameNode): FrameAction[] => [
    { label: 'Select in table', run: () => setSelected(node.name) },
    { label: 'Show callers and callees', run: () => setParams({ display: 'sandwich', fn: node.name }) },
    { label: 'Hide frames like this…', run: () => onDraft(draftFor('hide', node.name)) },
    { label: 'Collapse…', run: () => onDraft(draftFor('collapse', node.name)) },
    { label: 'Rename…', run: () => onDraft(draftFor('rename', node.name)) },
    { label: 'Tag…', run: () => onDraft(draftFor('tag', node.name)) },
  ];

  const answer = flame.data?.answer;
  const root = answer?.flamegraph.root;
  const tags = answer?.flamegraph.tags ?? [];
  const flamegraph = (node: FlameNode, testId?: string, inverted = false, title?: ReactNode) => (
    <Flamegraph
      root={node}
      format={format}
      tags={tags}
      search={search}
      selected={selected}
      inverted={inverted}
      actions={actions}
      testId={testId}
      toolbar={title}
    />
  );

  let body: ReactNode;
  if (flame.error) body = <ErrorState error={flame.error} />;
  else if (!answer || !root) body = <Loading />;
  else if (answer.flamegraph.summary.total === 0) body = <Empty>No samples for this selection in this time range.</Empty>;
  else {
    const tableView = (
      <QueryView query={table}>
        {(data) => (
          <FunctionTable
            rows={data.rows}
            total={data.total}
            format={format}
            search={search}
            selected={selected}
            onSelect={(name) => {
              setSelected(name);
              if (name) setParams({ fn: name }, true);
            }}
          />
        )}
      </QueryView>
    );
    const sandwich = fn ? (
      <Sandwich root={root} fn={fn} render={flamegraph} />
    ) : (
      <Empty>Pick a function: click a row of the table, or right-click a frame and choose “Show callers and callees”.</Empty>
    );
    body =
      display === 'table' ? (
        tableView
      ) : display === 'flamegraph' ? (
        flamegraph(root)
      ) : (
        <BesideTable table={tableView}>{display === 'sandwich' ? sandwich : flamegraph(root)}</BesideTable>
      );
  }

  return (
    <>
      {answer && <ScopeBanner scope={flame.data!.scope} answer={answer} spanId={selection.spanId} traceId={selection.traceId} />}
      <Timeline
        selection={scoped ?? (selection.spanId || selection.traceId ? undefined : selection)}
        range={range}
        split={split}
        onSplit={(label) => setParams({ split: label })}
        title={`${typeLabel} over time`}
      />
      <Panel
        title="Flamegraph"
        className="profile-main"
        actions={
          <>
            <SearchInput search={search} />
            {selected && (
              <span className="profile-selected mono" title={selected}>
                {selected.length > 40 ? `${selected.slice(0, 39)}…` : selected}
                <button onClick={() => setParams({ display: 'sandwich', fn: selected })}>Sandwich</button>
                <button aria-label="Clear selection" onClick={() => setSelected(undefined)}>
                  ×
                </button>
              </span>
            )}
            <Segmented
              value={display}
              choices={DISPLAYS}
              onChange={(next) => setParams({ display: next === 'both' ? undefined : next })}
              testId="profile-display"
            />
            {scoped && (
              <span className="profile-export">
                <a href={exportUrl(scoped, view, 'pprof')} download="profile.pb.gz" title="gzipped pprof: go tool pprof profile.pb.gz">
                  pprof
                </a>
                <a href={exportUrl(scoped, view, 'folded')} download="profile.folded.txt" title="folded stacks (flamegraph.pl, speedscope)">
                  folded
                </a>
              </span>
            )}
          </>
        }
      >
        {answer && answer.flamegraph.summary.total > 0 && (
          <>
            <Summary answer={answer} format={format} search={search} />
            <TagLegend tags={tags} />
          </>
        )}
        {body}
      </Panel>
    </>
  );
}

/** Callers of `fn` (inverted, leaf at the bottom) over its callees. */
function Sandwich({
  root,
  fn,
  render,
}: {
  root: FlameNode;
  fn: string;
  render: (node: FlameNode, testId?: string, inverted?: boolean, title?: ReactNode) => ReactNode;
}) {
  const callers = useMemo(() => callersOf(root, fn), [root, fn]);
  const callees = useMemo(() => calleesOf(root, fn), [root, fn]);
  if (callers.total === 0) {
    return <Empty>{fn} is not in this flamegraph (it may be pruned into “other”: raise Max nodes).</Empty>;
  }
  return (
    <div className="profile-sandwich" data-testid="profile-sandwich">
      {render(callers, 'flamegraph-callers', true, <span className="muted">Callers of {fn} (read upwards)</span>)}
      {render(callees, 'flamegraph-callees', false, <span className="muted">Callees of {fn}</span>)}
    </div>
  );
}

// --- comparison -------------------------------------------------------------------------

type Side = 'baseline' | 'comparison';

/** A side's selector and range: its own if set, else the page's query and half of the range. */
function useSide(side: Side, selector: Selector, range: RangeKey): { selection: SelectionParams; selector: Selector } {
  const { params } = useLocation();
  const rawQuery = params.get(side);
  const rawFrom = params.get(`${side}_from`) ?? '';
  const rawTo = params.get(`${side}_to`) ?? '';
  const query = rawQuery && parseSelector(rawQuery) ? rawQuery : formatSelector(selector);
  return useMemo(() => {
    const middle = (range.from + range.to) / 2;
    const from = parseTime(rawFrom, range.to) ?? (side === 'baseline' ? range.from : middle);
    const until = parseTime(rawTo, range.to) ?? (side === 'baseline' ? middle : range.to);
    return { selection: { query, from, until }, selector: parseSelector(query)! };
  }, [side, query, rawFrom, rawTo, range]);
}

function SidePanel({
  side,
  selection,
  selector,
  range,
}: {
  side: Side;
  selection: SelectionParams;
  selector: Selector;
  range: RangeKey;
}) {
  const title = side === 'baseline' ? 'Baseline' : 'Comparison';
  // The chart shows the whole range; the side's own range is picked by dragging.
  const overview = useMemo(() => ({ ...selection, from: range.from, until: range.to }), [selection, range]);
  return (
    <div className={`profile-side profile-side-${side}`} data-testid={`profile-${side}`}>
      <div className="profile-side-head">
        <strong>{title}</strong>
        <span className="mono profile-side-range">
          {formatTime(selection.from)} → {formatTime(selection.until)}
        </span>
        <span className="muted">drag on the chart to change</span>
      </div>
      <QueryInput
        selector={selector}
        onChange={(next) => setParams({ [side]: formatSelector(next) })}
        testId={`profile-${side}-query`}
      />
      <Timeline
        selection={overview}
        range={range}
        height={120}
        title={`${title} selection`}
        onSelect={(from, to) => setParams({ [`${side}_from`]: String(Math.floor(from)), [`${side}_to`]: String(Math.ceil(to)) })}
      />
    </div>
  );
}

function DiffMode({
  selector,
  range,
  view,
  search,
  format,
}: {
  selector: Selector;
  range: RangeKey;
  view: ViewParams;
  search: string;
  format: (value: number) => string;
}) {
  const { params } = useLocation();
  const display = params.get('display') === 'table' ? 'table' : params.get('display') === 'flamegraph' ? 'flamegraph' : 'both';
  const [selected, setSelected] = useState<string>();
  const baseline = useSide('baseline', selector, range);
  const comparison = useSide('comparison', selector, range);
  const diff = useQuery(
    (signal) => fetchDiff(baseline.selection, comparison.selection, view, signal),
    [baseline.selection, comparison.selection, view],
  );
  const needsTable = display !== 'flamegraph';
  const tables = useQuery(
    (signal) =>
      needsTable
        ? Promise.all([fetchTable(baseline.selection, view, signal), fetchTable(comparison.selection, view, signal)])
        : undefined,
    [baseline.selection, comparison.selection, view, needsTable],
  );
  const root = useMemo(() => (diff.data ? fromDiff(diff.data.diff.root) : undefined), [diff.data]);
  const rows = useMemo(() => (tables.data ? joinTables(tables.data[0], tables.data[1]) : []), [tables.data]);
  const summary = diff.data?.diff.summary;

  let body: ReactNode;
  if (diff.error) body = <ErrorState error={diff.error} />;
  else if (!root || !summary) body = <Loading />;
  else if (summary.left_total === 0 && summary.right_total === 0) body = <Empty>Neither side has samples.</Empty>;
  else {
    const flame = <Flamegraph root={root} format={format} search={search} selected={selected} testId="flamegraph-diff" />;
    const table = (
      <QueryView query={tables}>
        {() => <DiffTable rows={rows} search={search} selected={selected} onSelect={setSelected} />}
      </QueryView>
    );
    body =
      display === 'table' ? (
        table
      ) : display === 'flamegraph' ? (
        flame
      ) : (
        <BesideTable table={table}>{flame}</BesideTable>
      );
  }

  return (
    <>
      <div className="grid-2">
        <SidePanel side="baseline" selection={baseline.selection} selector={baseline.selector} range={range} />
        <SidePanel side="comparison" selection={comparison.selection} selector={comparison.selector} range={range} />
      </div>
      <Panel
        title="Diff flamegraph"
        className="profile-main"
        actions={
          <>
            <SearchInput search={search} />
            <Segmented
              value={display}
              choices={DISPLAYS.filter(([d]) => d !== 'sandwich')}
              onChange={(next) => setParams({ display: next === 'both' ? undefined : next })}
            />
          </>
        }
      >
        {summary && (summary.left_total > 0 || summary.right_total > 0) && (
          <div className="profile-summary muted" data-testid="profile-diff-summary">
            Baseline <strong>{format(summary.left_total)}</strong> · comparison <strong>{format(summary.right_total)}</strong> ·
            widths are each side's share, added; colour is the change of a frame's share:
            <span className="diff-legend">
              <span style={{ background: diffColor(-1) }}>less</span>
              <span style={{ background: diffColor(0) }}>same</span>
              <span style={{ background: diffColor(1) }}>more</span>
            </span>
          </div>
        )}
        {body}
      </Panel>
    </>
  );
}
