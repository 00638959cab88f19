// The trace waterfall: one row per span (service colour, name, timing bar on
// the trace's time axis, duration), collapsible subtrees, and emphasis on the
// critical path or on self time. Rows are virtualised — only the visible ones
// are in the DOM — so traces with thousands of spans stay responsive.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { CSSProperties, KeyboardEvent } from 'react';
import { formatDurationNs } from '../lib/format';
import { hrefWith } from '../lib/searchParams';
import {
  criticalPath,
  type Fold,
  type Interval,
  serviceColorIndex,
  type SpanNode,
  timeTicks,
  toggleFold,
  type TraceTree,
  traceWindow,
  waterfallRows,
  type WaterfallRow,
} from '../lib/traces';
import { onLinkClick } from '../lib/url';
import { colorAt } from './Chart';
import './waterfall.css';

export type Emphasis = 'critical' | 'self';

const ROW_HEIGHT = 24;
/** Rows rendered beyond the visible ones on each side, so fast scrolling shows no gaps. */
const OVERSCAN = 10;
/** Indentation per level, up to the deepest level still indented further. */
const INDENT = 14;
const MAX_INDENT_DEPTH = 24;

/** Percent of the trace's duration. */
const percent = (ns: number, total: number) => (total > 0 ? (ns / total) * 100 : 0);

export function Waterfall({
  tree,
  fold,
  onFoldChange,
  emphasis,
  onEmphasisChange,
  selected,
  onSelect,
}: {
  tree: TraceTree;
  fold: Fold;
  onFoldChange: (fold: Fold) => void;
  emphasis: Emphasis;
  onEmphasisChange: (emphasis: Emphasis) => void;
  /** Span id. */
  selected?: string;
  onSelect: (spanId: string) => void;
}) {
  const selectedNode = selected ? tree.byId.get(selected) : undefined;
  const rows = useMemo(() => waterfallRows(tree, fold, selectedNode), [tree, fold, selectedNode]);
  const critical = useMemo(() => (emphasis === 'critical' ? criticalPath(tree) : undefined), [tree, emphasis]);
  const ticks = useMemo(() => timeTicks(tree.durationNs, 6), [tree]);

  const scroller = useRef<HTMLDivElement>(null);
  const [viewport, setViewport] = useState({ top: 0, height: 600 });
  useLayoutEffect(() => {
    const element = scroller.current;
    if (!element) return;
    const measure = () => setViewport({ top: element.scrollTop, height: element.clientHeight });
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  // Bring a selection made elsewhere (URL, a link, the keyboard) into view.
  const rowsRef = useRef(rows);
  rowsRef.current = rows;
  useEffect(() => {
    const element = scroller.current;
    const index = rowsRef.current.findIndex((row) => row.node.span.span_id === selected);
    if (!element || index < 0) return;
    const top = index * ROW_HEIGHT;
    if (top < element.scrollTop || top + ROW_HEIGHT > element.scrollTop + element.clientHeight) {
      element.scrollTop = Math.max(0, top - element.clientHeight / 2);
    }
  }, [selected]);

  const first = Math.max(0, Math.floor(viewport.top / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((viewport.top + viewport.height) / ROW_HEIGHT) + OVERSCAN);
  const toggle = (node: SpanNode) => onFoldChange(toggleFold(fold, node));

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    const index = rows.findIndex((row) => row.node.span.span_id === selected);
    const row = rows[index];
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      const next = rows[Math.min(rows.length - 1, Math.max(0, index + (event.key === 'ArrowDown' ? 1 : -1)))];
      if (next) onSelect(next.node.span.span_id);
    } else if (row && (event.key === 'ArrowLeft' || event.key === 'ArrowRight')) {
      if (row.node.children.length > 0 && row.collapsed === (event.key === 'ArrowRight')) toggle(row.node);
      else if (event.key === 'ArrowLeft' && row.node.parent) onSelect(row.node.parent.span.span_id);
    } else {
      return;
    }
    event.preventDefault();
  };

  return (
    <div className="waterfall" data-testid="waterfall">
      <div className="wf-toolbar">
        <button onClick={() => onFoldChange({ toggled: new Set() })} data-testid="waterfall-expand-all">
          Expand all
        </button>
        <button onClick={() => onFoldChange({ depth: 1, toggled: new Set() })} data-testid="waterfall-collapse-all">
          Collapse all
        </button>
        <span className="wf-segmented" role="group" aria-label="Emphasis">
          <button
            className={emphasis === 'critical' ? 'active' : ''}
            aria-pressed={emphasis === 'critical'}
            onClick={() => onEmphasisChange('critical')}
            data-testid="emphasis-critical"
            title="Solid: the time the trace was waiting on this span"
          >
            Critical path
          </button>
          <button
            className={emphasis === 'self' ? 'active' : ''}
            aria-pressed={emphasis === 'self'}
            onClick={() => onEmphasisChange('self')}
            data-testid="emphasis-self"
            title="Solid: the time the span ran with none of its children running"
          >
            Self time
          </button>
        </span>
        <span className="muted wf-count">
          {rows.length === tree.nodes.length ? `${rows.length} spans` : `${rows.length} of ${tree.nodes.length} spans shown`}
        </span>
      </div>
      <div className="wf-header">
        <div className="wf-name">Service · span</div>
        <div className="wf-timeline">
          <div className="wf-track">
            {ticks.map((tick) => (
              <span key={tick} className="wf-tick" style={{ left: `${percent(tick, tree.durationNs)}%` }}>
                {formatDurationNs(tick)}
              </span>
            ))}
          </div>
        </div>
      </div>
      <div
        className="wf-body"
        ref={scroller}
        tabIndex={0}
        onKeyDown={onKeyDown}
        onScroll={(event) => setViewport({ top: event.currentTarget.scrollTop, height: event.currentTarget.clientHeight })}
        role="tree"
        aria-label="Spans"
      >
        <div className="wf-content" style={{ height: rows.length * ROW_HEIGHT }}>
          <div className="wf-grid" aria-hidden>
            <div className="wf-track">
              {ticks.map((tick) => (
                <span key={tick} style={{ left: `${percent(tick, tree.durationNs)}%` }} />
              ))}
            </div>
          </div>
          {rows.slice(first, last).map((row, i) => (
            <SpanRow
              key={row.node.span.span_id}
              row={row}
              top={(first + i) * ROW_HEIGHT}
              tree={tree}
              selected={row.node.span.span_id === selected}
              emphasis={emphasis === 'critical' ? critical?.get(row.node.span.span_id) ?? [] : row.node.self}
              dimmed={emphasis === 'critical' && !critical?.has(row.node.span.span_id)}
              showSelf={emphasis === 'self'}
              onSelect={onSelect}
              onToggle={toggle}
            />
          ))}
        </div>
      </div>
    </div>
  );
}

/** Where the duration label goes so that it stays inside the track: after
 * the bar, before it, or (for bars across most of the track) inside its end. */
function labelPosition(left: number, width: number): CSSProperties {
  if (left + width <= 75) return { left: `calc(${left + width}% + 4px)` };
  if (left >= 25) return { right: `calc(${100 - left}% + 4px)` };
  return { right: `calc(${100 - left - width}% + 4px)` };
}

function SpanRow({
  row,
  top,
  tree,
  selected,
  emphasis,
  dimmed,
  showSelf,
  onSelect,
  onToggle,
}: {
  row: WaterfallRow;
  top: number;
  tree: TraceTree;
  selected: boolean;
  /** Solid parts of the bar (absolute ns). */
  emphasis: Interval[];
  dimmed: boolean;
  showSelf: boolean;
  onSelect: (spanId: string) => void;
  onToggle: (node: SpanNode) => void;
}) {
  const { node, offsetNs, durationNs, collapsed, hidden } = row;
  const { span } = node;
  const color = colorAt(serviceColorIndex(span.service_name));
  const left = percent(offsetNs, tree.durationNs);
  const width = percent(durationNs, tree.durationNs);
  const error = span.status === 'error';
  const label = showSelf
    ? `${formatDurationNs(node.selfNs)} self of ${formatDurationNs(durationNs)}`
    : formatDurationNs(durationNs);
  const logsHref = hrefWith('/logs', {
    trace_id: tree.traceId,
    span_id: span.span_id,
    ...traceWindow(tree.startNs, tree.endNs),
  });

  return (
    <div
      className={`wf-row${selected ? ' selected' : ''}${error ? ' error' : ''}${dimmed ? ' dimmed' : ''}`}
      style={{ top }}
      onClick={() => onSelect(span.span_id)}
      data-testid="waterfall-row"
      data-span-id={span.span_id}
      role="treeitem"
      aria-level={node.depth + 1}
      aria-selected={selected}
      aria-expanded={node.children.length > 0 ? !collapsed : undefined}
    >
      <div className="wf-name" style={{ paddingLeft: 4 + Math.min(node.depth, MAX_INDENT_DEPTH) * INDENT }}>
        {node.children.length > 0 ? (
          <button
            className="wf-toggle"
            aria-label={collapsed ? 'Expand' : 'Collapse'}
            onClick={(event) => {
              event.stopPropagation();
              onToggle(node);
            }}
          >
            {collapsed ? '▸' : '▾'}
          </button>
        ) : (
          <span className="wf-toggle" />
        )}
        <span className="service-dot" style={{ background: color }} />
        <span className="wf-service">{span.service_name}</span>
        <span className="wf-span-name" title={span.name}>
          {span.name}
        </span>
        {node.orphan && (
          <span className="wf-note" title={`parent ${span.parent_span_id} is not in the trace`}>
            orphan
          </span>
        )}
        {collapsed && <span className="wf-note">+{hidden}</span>}
        {error && (
          <span className="badge error" title={span.status_message || 'error'}>
            error
          </span>
        )}
        {span.log_count > 0 && (
          <a
            className="wf-logs"
            href={logsHref}
            onClick={(event) => {
              event.stopPropagation();
              onLinkClick(event);
            }}
            title={`${span.log_count} log records of this span`}
            data-testid="span-row-logs"
          >
            {span.log_count} log{span.log_count === 1 ? '' : 's'}
          </a>
        )}
      </div>
      <div className="wf-timeline">
        <div className="wf-track">
          <div
            className="wf-bar"
            style={{ left: `${left}%`, width: `max(2px, ${width}%)`, background: color }}
          >
            {emphasis.map(([start, end]) => (
              <span
                key={start}
                className="wf-solid"
                style={{
                  left: `${percent(start - span.start_ns, durationNs)}%`,
                  width: `${percent(end - start, durationNs)}%`,
                  background: color,
                }}
              />
            ))}
          </div>
          <span className="wf-duration" style={labelPosition(left, width)}>
            {label}
          </span>
        </div>
      </div>
    </div>
  );
}
