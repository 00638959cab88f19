// /traces: trace search (structured filters and TraceQL) with results as a
// scatter plot and a table; /traces/<trace id>: the trace view. All state is
// in the URL.
import { useMemo, useState } from 'react';
import type { FormEvent } from 'react';
import { Panel, QueryView } from '../components/States';
import { TraceScatter, TraceTable, useTraceSearch } from '../components/TraceList';
import { useQuery } from '../lib/api';
import { useTimeRange } from '../lib/time';
import { hrefWith, setParamsWith } from '../lib/searchParams';
import {
  DEFAULT_LIMIT,
  fetchOperations,
  fetchServices,
  invalidAttribute,
  MAX_LIMIT,
  parseTraceSort,
  STATUSES,
  traceQueryFromParams,
  traceQueryValues,
  traceSortText,
  type TraceQuery,
  type TraceSummary,
} from '../lib/traces';
import { navigate, useLocation } from '../lib/url';
import { TraceView } from './TraceView';
import './traces.css';

/** The trace id of `/traces/<id>`, if the path is one. */
function traceIdOf(path: string): string | undefined {
  const match = /^\/traces\/([^/]+)\/?$/.exec(path);
  return match ? decodeURIComponent(match[1]) : undefined;
}

export default function Traces() {
  const { path } = useLocation();
  const traceId = traceIdOf(path);
  return traceId ? <TraceView traceId={traceId} /> : <TraceSearch />;
}

function TraceSearch() {
  const { params } = useLocation();
  const search = params.toString();
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const query = useMemo(() => traceQueryFromParams(params), [search]);
  const sort = parseTraceSort(params.get('sort'));
  const range = useTimeRange();
  const results = useTraceSearch(query);

  // The trace view keeps the search in its URL, for its way back here.
  const open = (trace: TraceSummary) =>
    navigate(
      hrefWith(`/traces/${trace.trace_id}`, { ...traceQueryValues(query), sort: params.get('sort') ?? undefined }),
    );
  const count = results.data?.length;

  return (
    <div className="traces-page">
      <SearchForm key={JSON.stringify(query)} query={query} />
      <Panel title="Duration over time">
        <QueryView query={results} isEmpty={(traces) => traces.length === 0} empty="No traces match in this time range.">
          {(traces) => <TraceScatter traces={traces} range={range} onSelect={open} />}
        </QueryView>
      </Panel>
      <Panel
        title={count === undefined ? 'Traces' : `Traces (${count}${count === (query.limit ?? DEFAULT_LIMIT) ? ', limit reached' : ''})`}
      >
        <QueryView query={results} isEmpty={(traces) => traces.length === 0} empty="No traces match in this time range.">
          {(traces) => (
            <TraceTable
              traces={traces}
              onSelect={open}
              sort={sort}
              onSortChange={(next) => setParamsWith({ sort: traceSortText(next) === '-start' ? undefined : traceSortText(next) }, true)}
            />
          )}
        </QueryView>
      </Panel>
    </div>
  );
}

/** What the API accepts as a duration: a number with an optional unit. */
const DURATION = /^\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d|w)?$/;

function SearchForm({ query }: { query: TraceQuery }) {
  const [draft, setDraft] = useState<TraceQuery>(() => ({ ...query, attr: query.attr ?? [] }));
  const [limitText, setLimitText] = useState(String(query.limit ?? DEFAULT_LIMIT));
  const range = useTimeRange();
  const services = useQuery((signal) => fetchServices(range, signal), [range]);
  const operations = useQuery(
    (signal) => (draft.service ? fetchOperations(draft.service, range, signal) : undefined),
    [draft.service, range],
  );
  const set = (change: Partial<TraceQuery>) => setDraft((current) => ({ ...current, ...change }));
  const attributes = draft.attr ?? [];
  const setAttribute = (index: number, value: string) =>
    set({ attr: attributes.map((a, i) => (i === index ? value : a)) });

  const badMin = !!draft.min_duration && !DURATION.test(draft.min_duration.trim());
  const badMax = !!draft.max_duration && !DURATION.test(draft.max_duration.trim());
  const badAttribute = attributes.some((a) => a.trim() !== '' && invalidAttribute(a.trim()));
  const limit = Number(limitText);
  const badLimit = !Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT;
  const invalid = badMin || badMax || badAttribute || badLimit;

  const submit = (event?: FormEvent) => {
    event?.preventDefault();
    if (invalid) return;
    setParamsWith({
      ...traceQueryValues({
        ...draft,
        min_duration: draft.min_duration?.trim(),
        max_duration: draft.max_duration?.trim(),
        attr: attributes.map((a) => a.trim()),
        limit,
      }),
    });
  };

  const serviceOptions = services.data ?? [];
  return (
    <form className="panel trace-search" onSubmit={submit} data-testid="trace-search-form">
      <div className="toolbar">
        <label>
          Service
          <select
            value={draft.service ?? ''}
            onChange={(event) => set({ service: event.target.value || undefined, span_name: undefined })}
            data-testid="trace-search-service"
          >
            <option value="">{services.loading ? 'Loading…' : services.error ? 'Services unavailable' : 'Any service'}</option>
            {draft.service && !serviceOptions.includes(draft.service) && <option value={draft.service}>{draft.service}</option>}
            {serviceOptions.map((service) => (
              <option key={service} value={service}>
                {service}
              </option>
            ))}
          </select>
        </label>
        <label>
          Span name
          <input
            list="trace-search-operations"
            value={draft.span_name ?? ''}
            placeholder={draft.service ? 'Any span name' : 'Exact span name'}
            onChange={(event) => set({ span_name: event.target.value || undefined })}
            data-testid="trace-search-span-name"
          />
          <datalist id="trace-search-operations">
            {(operations.data ?? []).map((name) => (
              <option key={name} value={name} />
            ))}
          </datalist>
        </label>
        <label>
          Min duration
          <input
            className={`duration-input ${badMin ? 'invalid' : ''}`}
            value={draft.min_duration ?? ''}
            placeholder="100ms"
            onChange={(event) => set({ min_duration: event.target.value || undefined })}
            data-testid="trace-search-min-duration"
          />
        </label>
        <label>
          Max duration
          <input
            className={`duration-input ${badMax ? 'invalid' : ''}`}
            value={draft.max_duration ?? ''}
            placeholder="5s"
            onChange={(event) => set({ max_duration: event.target.value || undefined })}
            data-testid="trace-search-max-duration"
          />
        </label>
        <label>
          Status
          <select
            value={draft.status ?? ''}
            onChange={(event) => set({ status: (event.target.value || undefined) as TraceQuery['status'] })}
            data-testid="trace-search-status"
          >
            <option value="">Any status</option>
            {STATUSES.map((status) => (
              <option key={status} value={status}>
                {status}
              </option>
            ))}
          </select>
        </label>
        <label>
          Limit
          <input
            type="number"
            className={`limit-input ${badLimit ? 'invalid' : ''}`}
            min={1}
            max={MAX_LIMIT}
            value={limitText}
            onChange={(event) => setLimitText(event.target.value)}
            data-testid="trace-search-limit"
          />
        </label>
      </div>
      <div className="trace-search-attributes">
        <span className="trace-search-label">Attributes</span>
        {attributes.map((attribute, index) => (
          <span key={index} className="attr-condition">
            <input
              value={attribute}
              placeholder="http.route=/checkout/:id"
              className={attribute.trim() && invalidAttribute(attribute.trim()) ? 'invalid' : ''}
              onChange={(event) => setAttribute(index, event.target.value)}
              data-testid="trace-search-attr"
              aria-label={`Attribute condition ${index + 1}`}
            />
            <button
              type="button"
              onClick={() => set({ attr: attributes.filter((_, i) => i !== index) })}
              aria-label="Remove attribute condition"
            >
              ×
            </button>
          </span>
        ))}
        <button type="button" onClick={() => set({ attr: [...attributes, ''] })} data-testid="trace-search-add-attr">
          + key=value
        </button>
        <span className="muted">span or resource attribute, exact value</span>
      </div>
      <label className="traceql-label">
        TraceQL (optional; combined with the filters above)
        <textarea
          rows={2}
          value={draft.q ?? ''}
          placeholder='{ resource.service.name = "frontend" && duration > 100ms } >> { status = error }'
          onChange={(event) => set({ q: event.target.value || undefined })}
          onKeyDown={(event) => {
            // Enter searches, as in the other fields; Shift+Enter breaks the line.
            if (event.key === 'Enter' && !event.shiftKey) {
              event.preventDefault();
              submit();
            }
          }}
          spellCheck={false}
          data-testid="trace-search-traceql"
        />
      </label>
      <div className="trace-search-buttons">
        <button type="submit" className="primary" disabled={invalid} data-testid="trace-search-submit">
          Search
        </button>
        <button
          type="button"
          onClick={() => {
            setDraft({ attr: [] });
            setLimitText(String(DEFAULT_LIMIT));
          }}
          data-testid="trace-search-reset"
        >
          Clear
        </button>
        {invalid && <span className="trace-search-invalid">Fix the highlighted fields (durations like 250ms, attributes as key=value, limit 1–1000).</span>}
      </div>
    </form>
  );
}
