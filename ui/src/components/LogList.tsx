// A virtualised list of log records, newest first: only the rows in view are
// in the DOM. Collapsed rows have one fixed height; an expanded row (body,
// attributes, resource, ids) is measured, so rows of any height scroll right.
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { formatTime } from '../lib/format';
import type { LogEntry, LogRecord } from '../lib/logs';
import { hrefWith } from '../lib/searchParams';
import { onLinkClick } from '../lib/url';
import { AttributeTable } from './AttributeTable';
import './loglist.css';

const ROW_HEIGHT = 26;
/** Pixels rendered beyond the visible ones on each side. */
const OVERSCAN_PX = 600;
/** Asks for the next page when the end is this many viewports away. */
const PREFETCH_VIEWPORTS = 2;

/** The first index whose row ends after `y`. */
function rowAt(offsets: number[], y: number): number {
  let low = 0;
  let high = offsets.length - 2;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (offsets[mid + 1] <= y) low = mid + 1;
    else high = mid;
  }
  return Math.max(0, low);
}

export function LogList({
  entries,
  onEndReached,
  footer,
}: {
  entries: LogEntry[];
  /** Called when the user nears the end (load the next page). */
  onEndReached?: () => void;
  footer?: ReactNode;
}) {
  const [expanded, setExpanded] = useState<ReadonlySet<number>>(new Set());
  /** Measured heights of expanded rows, by entry key. */
  const heights = useRef(new Map<number, number>());
  const [measured, setMeasured] = useState(0);
  const scroller = useRef<HTMLDivElement>(null);
  const [viewport, setViewport] = useState({ top: 0, height: 600 });

  const offsets = useMemo(() => {
    const result = new Array<number>(entries.length + 1);
    result[0] = 0;
    entries.forEach((entry, i) => {
      result[i + 1] = result[i] + (expanded.has(entry.key) ? heights.current.get(entry.key) ?? ROW_HEIGHT : ROW_HEIGHT);
    });
    return result;
    // `measured` says heights changed.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [entries, expanded, measured]);
  const total = offsets[entries.length];

  // One observer measures every expanded row on screen.
  const observer = useMemo(
    () =>
      new ResizeObserver((observed) => {
        let changed = false;
        for (const { target } of observed) {
          const key = Number((target as HTMLElement).dataset.key);
          const height = (target as HTMLElement).offsetHeight;
          if (height > 0 && heights.current.get(key) !== height) {
            heights.current.set(key, height);
            changed = true;
          }
        }
        if (changed) setMeasured((n) => n + 1);
      }),
    [],
  );
  useEffect(() => () => observer.disconnect(), [observer]);
  const measure = useCallback(
    (element: HTMLDivElement | null) => {
      if (!element) return;
      observer.observe(element);
      return () => observer.unobserve(element);
    },
    [observer],
  );

  useLayoutEffect(() => {
    const element = scroller.current;
    if (!element) return;
    const update = () => setViewport({ top: element.scrollTop, height: element.clientHeight });
    update();
    const resize = new ResizeObserver(update);
    resize.observe(element);
    return () => resize.disconnect();
  }, []);

  // Lines put on top (live tail) must not push what the user is reading away.
  const firstKey = useRef<number | undefined>(undefined);
  useLayoutEffect(() => {
    const element = scroller.current;
    const previous = firstKey.current;
    firstKey.current = entries[0]?.key;
    if (!element || previous === undefined || element.scrollTop === 0) return;
    const index = entries.findIndex((entry) => entry.key === previous);
    // A new result set starts at the top.
    if (index < 0) element.scrollTop = 0;
    else if (index > 0) element.scrollTop += offsets[index];
  }, [entries, offsets]);

  // Near the end (or the list does not fill the view yet): ask for more.
  useEffect(() => {
    if (onEndReached && viewport.top + viewport.height * (1 + PREFETCH_VIEWPORTS) >= total) onEndReached();
  }, [viewport, total, onEndReached]);

  const toggle = (key: number) =>
    setExpanded((current) => {
      const next = new Set(current);
      if (next.has(key)) {
        next.delete(key);
        heights.current.delete(key);
      } else next.add(key);
      return next;
    });

  const first = rowAt(offsets, viewport.top - OVERSCAN_PX);
  const last = Math.min(entries.length, rowAt(offsets, viewport.top + viewport.height + OVERSCAN_PX) + 1);

  return (
    <div
      className="log-list"
      ref={scroller}
      onScroll={(event) => setViewport({ top: event.currentTarget.scrollTop, height: event.currentTarget.clientHeight })}
      data-testid="log-list"
    >
      <div className="log-list-content" style={{ height: total }}>
        {entries.slice(first, last).map((entry, i) => {
          const index = first + i;
          const open = expanded.has(entry.key);
          return (
            <div
              key={entry.key}
              className={`log-row level-${entry.record.level}${open ? ' open' : ''}`}
              style={{ top: offsets[index] }}
              ref={open ? measure : undefined}
              data-key={entry.key}
              data-testid="log-row"
              data-level={entry.record.level}
            >
              <LogLine record={entry.record} open={open} onToggle={() => toggle(entry.key)} />
              {open && <LogDetails record={entry.record} />}
            </div>
          );
        })}
      </div>
      {footer && <div className="log-list-footer">{footer}</div>}
    </div>
  );
}

function traceHref(record: LogRecord): string {
  return hrefWith(`/traces/${record.trace_id}`, { span: record.span_id });
}

function LogLine({ record, open, onToggle }: { record: LogRecord; open: boolean; onToggle: () => void }) {
  return (
    <div
      className="log-line"
      onClick={onToggle}
      role="button"
      tabIndex={0}
      aria-expanded={open}
      onKeyDown={(event) => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          onToggle();
        }
      }}
    >
      <span className="log-caret">{open ? '▾' : '▸'}</span>
      <span className="log-time">{formatTime(record.timestamp_ns / 1e6, true)}</span>
      <span className="log-level">{record.level}</span>
      <span className="log-service">{record.service_name}</span>
      <span className="log-body">{record.body}</span>
      {record.trace_id && (
        <a
          className="log-trace"
          href={traceHref(record)}
          onClick={(event) => {
            event.stopPropagation();
            onLinkClick(event);
          }}
          data-testid="view-trace-link"
        >
          View trace
        </a>
      )}
    </div>
  );
}

function LogDetails({ record }: { record: LogRecord }) {
  return (
    <div className="log-details" data-testid="log-row-details">
      <pre className="log-full-body">{record.body}</pre>
      <dl className="log-facts">
        <dt>Severity</dt>
        <dd>
          {record.severity_text || record.level} <span className="muted">({record.severity_number})</span>
        </dd>
        <dt>Observed</dt>
        <dd>{formatTime(record.observed_timestamp_ns / 1e6, true)}</dd>
        <dt>Trace ID</dt>
        <dd className="mono">
          {record.trace_id ? (
            <a href={traceHref(record)} onClick={onLinkClick}>
              {record.trace_id}
            </a>
          ) : (
            <span className="muted">none</span>
          )}
        </dd>
        <dt>Span ID</dt>
        <dd className="mono">{record.span_id || <span className="muted">none</span>}</dd>
        <dt>Scope</dt>
        <dd className="mono">{record.scope_name || <span className="muted">none</span>}</dd>
      </dl>
      <div className="log-attribute-tables">
        <div>
          <h3>Attributes</h3>
          <AttributeTable attributes={record.attributes} testId="log-attributes" />
        </div>
        <div>
          <h3>Resource</h3>
          <AttributeTable attributes={record.resource} testId="log-resource" />
        </div>
      </div>
    </div>
  );
}
