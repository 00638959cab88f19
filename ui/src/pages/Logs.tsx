// /logs: filter bar, volume histogram by severity, and the virtualised list
// of lines (newest first, paged with the search cursor) with a live tail over
// Server-Sent Events. The filter and the live toggle are in the URL.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { FormEvent } from 'react';
import { Chart } from '../components/Chart';
import { LogList } from '../components/LogList';
import { ErrorState, Loading, Panel, QueryView } from '../components/States';
import { useQuery } from '../lib/api';
import { formatNumber } from '../lib/format';
import {
  fetchLogServices,
  fetchVolume,
  LEVELS,
  type LogEntry,
  type LogFilter,
  logFilterFromParams,
  logFilterValues,
  type LogRecord,
  parseTailEvent,
  prependLive,
  searchLogs,
  TEXT_MODES,
  type TextMode,
  tailUrl,
  validAttrFilter,
  volumeSeries,
} from '../lib/logs';
import { type Range, useTimeRange } from '../lib/time';
import { setParamsWith } from '../lib/searchParams';
import { useLocation } from '../lib/url';
import './logs.css';

/** Lines per search page. */
const PAGE_SIZE = 200;
/** Lines the list keeps while tailing; older ones are dropped. */
const LIVE_CAP = 2000;
/** How often tailed lines are put into the list (one render per batch, not per line). */
const FLUSH_MS = 250;

export default function Logs() {
  const { params } = useLocation();
  const filterKey = JSON.stringify(logFilterValues(logFilterFromParams(params)));
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const filter = useMemo(() => logFilterFromParams(params), [filterKey]);
  const live = params.get('live') === '1';
  const range = useTimeRange();

  return (
    <div className="logs-page">
      <FilterBar key={filterKey} filter={filter} range={range} />
      <VolumePanel filter={filter} filterKey={filterKey} range={range} />
      <LinesPanel filter={filter} filterKey={filterKey} range={range} live={live} />
    </div>
  );
}

// --- filter bar -------------------------------------------------------------------

const MODE_LABELS: Record<TextMode, string> = {
  icontains: 'contains (any case)',
  contains: 'contains (exact case)',
  words: 'whole words',
  regex: 'regex',
};

const HEX = /^[0-9a-fA-F]*$/;

function FilterBar({ filter, range }: { filter: LogFilter; range: Range }) {
  const [draft, setDraft] = useState<LogFilter>(filter);
  const services = useQuery((signal) => fetchLogServices(range, signal), [range]);
  const set = (change: Partial<LogFilter>) => setDraft((current) => ({ ...current, ...change }));
  const badAttr = draft.attr.some((a) => a.trim() !== '' && !validAttrFilter(a.trim()));
  const badTrace = !HEX.test(draft.trace_id ?? '') || !HEX.test(draft.span_id ?? '');
  const invalid = badAttr || badTrace;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (invalid) return;
    setParamsWith(
      logFilterValues({
        ...draft,
        attr: draft.attr.map((a) => a.trim()),
        trace_id: draft.trace_id?.trim().toLowerCase() || undefined,
        span_id: draft.span_id?.trim().toLowerCase() || undefined,
      }),
    );
  };
  const available = (services.data ?? []).filter((s) => !draft.service.includes(s));

  return (
    <form className="panel logs-filter" onSubmit={submit} data-testid="logs-filter">
      <div className="toolbar">
        <label>
          Services
          <span className="logs-services">
            {draft.service.map((service) => (
              <span key={service} className="logs-chip" data-testid="logs-filter-service-chip">
                {service}
                <button
                  type="button"
                  onClick={() => set({ service: draft.service.filter((s) => s !== service) })}
                  aria-label={`Remove ${service}`}
                >
                  ×
                </button>
              </span>
            ))}
            <select
              value=""
              onChange={(event) => event.target.value && set({ service: [...draft.service, event.target.value] })}
              data-testid="logs-filter-service"
            >
              <option value="">
                {services.loading
                  ? 'Loading…'
                  : services.error
                    ? 'Services unavailable'
                    : draft.service.length
                      ? 'Add service…'
                      : 'All services'}
              </option>
              {available.map((service) => (
                <option key={service} value={service}>
                  {service}
                </option>
              ))}
            </select>
          </span>
        </label>
        <label>
          Minimum severity
          <select
            value={draft.level ?? ''}
            onChange={(event) => set({ level: (event.target.value || undefined) as LogFilter['level'] })}
            data-testid="logs-filter-level"
          >
            <option value="">Any</option>
            {LEVELS.map((level) => (
              <option key={level} value={level}>
                {level}
              </option>
            ))}
          </select>
        </label>
        <label className="logs-text">
          Text
          <span className="logs-text-row">
            <input
              value={draft.q ?? ''}
              placeholder="Search the body"
              onChange={(event) => set({ q: event.target.value || undefined })}
              data-testid="logs-filter-text"
            />
            <select
              value={draft.match ?? 'icontains'}
              onChange={(event) => set({ match: event.target.value as TextMode })}
              data-testid="logs-filter-match"
              aria-label="Text match mode"
            >
              {TEXT_MODES.map((mode) => (
                <option key={mode} value={mode}>
                  {MODE_LABELS[mode]}
                </option>
              ))}
            </select>
          </span>
        </label>
        <label>
          Trace ID
          <input
            className={`logs-id ${HEX.test(draft.trace_id ?? '') ? '' : 'invalid'}`}
            value={draft.trace_id ?? ''}
            placeholder="32 hex digits"
            onChange={(event) => set({ trace_id: event.target.value || undefined })}
            data-testid="logs-filter-trace-id"
          />
        </label>
        <label>
          Span ID
          <input
            className={`logs-span-id ${HEX.test(draft.span_id ?? '') ? '' : 'invalid'}`}
            value={draft.span_id ?? ''}
            placeholder="16 hex digits"
            onChange={(event) => set({ span_id: event.target.value || undefined })}
            data-testid="logs-filter-span-id"
          />
        </label>
      </div>
      <div className="logs-filter-row">
        <span className="muted">Attributes</span>
        {draft.attr.map((attribute, index) => (
          <span key={index} className="logs-attr">
            <input
              value={attribute}
              placeholder="http.route=/api, user!=bot, path=~/a.*"
              className={attribute.trim() && !validAttrFilter(attribute.trim()) ? 'invalid' : ''}
              onChange={(event) => set({ attr: draft.attr.map((a, i) => (i === index ? event.target.value : a)) })}
              data-testid="logs-filter-attr"
              aria-label={`Attribute condition ${index + 1}`}
            />
            <button
              type="button"
              onClick={() => set({ attr: draft.attr.filter((_, i) => i !== index) })}
              aria-label="Remove attribute condition"
            >
              ×
            </button>
          </span>
        ))}
        <button type="button" onClick={() => set({ attr: [...draft.attr, ''] })} data-testid="logs-filter-add-attr">
          + attribute
        </button>
        <span className="logs-filter-buttons">
          {invalid && <span className="logs-invalid">Fix the highlighted fields.</span>}
          <button type="button" onClick={() => setDraft({ service: [], attr: [] })} data-testid="logs-filter-clear">
            Clear
          </button>
          <button type="submit" className="primary" disabled={invalid} data-testid="logs-filter-submit">
            Search
          </button>
        </span>
      </div>
    </form>
  );
}

// --- volume -------------------------------------------------------------------------

function VolumePanel({ filter, filterKey, range }: { filter: LogFilter; filterKey: string; range: Range }) {
  const volume = useQuery((signal) => fetchVolume(filter, range, signal), [filterKey, range]);
  const series = useMemo(() => (volume.data ? volumeSeries(volume.data) : []), [volume.data]);
  const total = Object.values(volume.data?.levels ?? {}).reduce(
    (sum, counts) => sum + (counts ?? []).reduce((a, b) => a + b, 0),
    0,
  );
  return (
    <Panel title="Volume by severity" actions={volume.data && <span className="muted">{formatNumber(total)} lines</span>}>
      <div data-testid="logs-volume">
        <QueryView query={volume} isEmpty={() => series.length === 0} empty="No log lines in this time range.">
          {() => <Chart series={series} mode="bars" stacked range={range} height={150} />}
        </QueryView>
      </div>
    </Panel>
  );
}

// --- lines and live tail ---------------------------------------------------------------

interface Lines {
  entries: LogEntry[];
  /** Where the next page starts; none on the last page (or once tailing dropped lines). */
  cursor?: string;
  loading: boolean;
  loadingMore: boolean;
  error?: Error;
  /** Tail writes the server skipped because the client was too slow. */
  missed: number;
}

type TailStatus = 'connecting' | 'live' | 'reconnecting';

function useLogLines(filter: LogFilter, filterKey: string, range: Range, live: boolean) {
  const [lines, setLines] = useState<Lines>({ entries: [], loading: true, loadingMore: false, missed: 0 });
  const [tail, setTail] = useState<TailStatus>();
  const nextKey = useRef(0);
  const entriesOf = (records: LogRecord[]): LogEntry[] => records.map((record) => ({ key: nextKey.current++, record }));

  // The first page; again when the filter or range changes and when tailing stops.
  useEffect(() => {
    const controller = new AbortController();
    setLines((current) => ({ ...current, loading: true, error: undefined }));
    searchLogs(filter, range, { limit: PAGE_SIZE }, controller.signal).then(
      (page) =>
        setLines({ entries: entriesOf(page.logs), cursor: page.next_cursor, loading: false, loadingMore: false, missed: 0 }),
      (error: Error) => {
        if (error.name !== 'AbortError') setLines((current) => ({ ...current, loading: false, error }));
      },
    );
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [filterKey, range, live]);

  const loadMore = useCallback(() => {
    const { cursor, loading, loadingMore } = lines;
    if (!cursor || loading || loadingMore) return;
    setLines((current) => ({ ...current, loadingMore: true }));
    searchLogs(filter, range, { limit: PAGE_SIZE, cursor }).then(
      (page) => {
        const more = entriesOf(page.logs);
        // A new search may have replaced the list meanwhile.
        setLines((current) =>
          current.cursor === cursor
            ? { ...current, entries: current.entries.concat(more), cursor: page.next_cursor, loadingMore: false }
            : current,
        );
      },
      (error: Error) => setLines((current) => ({ ...current, loadingMore: false, error })),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [lines, filter, range]);

  useEffect(() => {
    if (!live) return;
    const source = new EventSource(tailUrl(filter));
    let buffer: LogRecord[] = [];
    setTail('connecting');
    source.onopen = () => setTail('live');
    // EventSource reconnects by itself; say so meanwhile.
    source.onerror = () => setTail('reconnecting');
    source.addEventListener('log', (event) => {
      buffer.push(parseTailEvent((event as MessageEvent<string>).data));
      if (buffer.length > LIVE_CAP) buffer = buffer.slice(-LIVE_CAP);
    });
    source.addEventListener('lagged', (event) => {
      const missed = (JSON.parse((event as MessageEvent<string>).data) as { missed_writes: number }).missed_writes;
      setLines((current) => ({ ...current, missed: current.missed + missed }));
    });
    const timer = window.setInterval(() => {
      if (buffer.length === 0) return;
      const fresh = entriesOf(buffer);
      buffer = [];
      setLines((current) => {
        const { entries, trimmed } = prependLive(current.entries, fresh, LIVE_CAP);
        return { ...current, entries, cursor: trimmed ? undefined : current.cursor };
      });
    }, FLUSH_MS);
    return () => {
      source.close();
      window.clearInterval(timer);
      setTail(undefined);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [live, filterKey]);

  return { lines, loadMore, tail };
}

const TAIL_LABELS: Record<TailStatus, string> = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
};

function LinesPanel({ filter, filterKey, range, live }: { filter: LogFilter; filterKey: string; range: Range; live: boolean }) {
  const { lines, loadMore, tail } = useLogLines(filter, filterKey, range, live);
  const count = lines.entries.length;

  const toggle = (
    <button
      className={`logs-live-toggle ${live ? 'active' : ''}`}
      aria-pressed={live}
      onClick={() => setParamsWith({ live: live ? undefined : '1' }, true)}
      data-testid="live-tail-toggle"
    >
      <span className={`logs-live-dot ${tail ?? ''}`} />
      {live ? 'Stop live tail' : 'Live tail'}
    </button>
  );

  const footer = lines.loadingMore ? (
    <Loading label="Loading older lines…" />
  ) : lines.cursor ? (
    <button onClick={loadMore}>Load older lines</button>
  ) : count > 0 ? (
    live && count >= LIVE_CAP ? (
      `Showing the newest ${formatNumber(LIVE_CAP)} lines while tailing.`
    ) : (
      'No older lines in this time range.'
    )
  ) : null;

  return (
    <Panel
      title={`Lines${count ? ` (${formatNumber(count)}${lines.cursor ? '+' : ''})` : ''}`}
      className="logs-lines"
      actions={
        <>
          {tail && <span className="muted logs-tail-status" data-testid="live-tail-status">{TAIL_LABELS[tail]}</span>}
          {lines.missed > 0 && <span className="badge warn">{formatNumber(lines.missed)} writes skipped (too fast)</span>}
          {toggle}
        </>
      }
    >
      {lines.error && <ErrorState error={lines.error} />}
      {lines.loading && count === 0 && !lines.error && <Loading />}
      {!lines.loading && !lines.error && count === 0 && (
        <div className="state state-empty" data-testid="logs-empty">
          {live ? 'Waiting for new lines…' : 'No log lines match in this time range.'}
        </div>
      )}
      {count > 0 && <LogList entries={lines.entries} onEndReached={loadMore} footer={footer} />}
    </Panel>
  );
}
