// Everything about one span: timing, status, typed attributes, events (with
// their offset into the span), links to other traces, resource and scope, and
// links to the span's logs and profile.
import type { ReactNode } from 'react';
import { formatDurationNs, formatTime } from '../lib/format';
import { hrefWith } from '../lib/searchParams';
import { serviceColorIndex, type SpanNode, type TraceTree, traceWindow } from '../lib/traces';
import { onLinkClick } from '../lib/url';
import { AttributeTable } from './AttributeTable';
import { colorAt } from './Chart';
import './waterfall.css';

function Section({ title, count, children, testId }: { title: string; count?: number; children: ReactNode; testId: string }) {
  return (
    <details className="sd-section" open data-testid={testId}>
      <summary>
        {title}
        {count !== undefined && <span className="muted"> ({count})</span>}
      </summary>
      {children}
    </details>
  );
}

/** Links to a span's (or a trace's) logs and profile, around the trace's time. */
export function telemetryLinks(tree: TraceTree, service: string, spanId?: string) {
  const around = traceWindow(tree.startNs, tree.endNs);
  return {
    logs: hrefWith('/logs', { trace_id: tree.traceId, span_id: spanId, ...around }),
    profile: hrefWith('/profiles', { service, trace_id: tree.traceId, span_id: spanId, ...around }),
  };
}

export function SpanDetails({
  node,
  tree,
  onSelect,
  onClose,
}: {
  node: SpanNode;
  tree: TraceTree;
  onSelect: (spanId: string) => void;
  onClose: () => void;
}) {
  const { span } = node;
  const links = telemetryLinks(tree, span.service_name, span.span_id);
  const offset = span.start_ns - tree.startNs;

  return (
    <aside className="span-details panel" data-testid="span-details" data-span-id={span.span_id}>
      <header className="panel-header">
        <span className="service-dot" style={{ background: colorAt(serviceColorIndex(span.service_name)) }} />
        <h2 title={span.name}>
          <span className="muted">{span.service_name}</span> {span.name}
        </h2>
        <div className="panel-actions">
          <button onClick={onClose} aria-label="Close span details" data-testid="span-details-close">
            ×
          </button>
        </div>
      </header>
      <div className="panel-body sd-body">
        <div className="sd-actions">
          <a className="button-link" href={links.logs} onClick={onLinkClick} data-testid="span-logs">
            Logs for this span ({span.log_count})
          </a>
          <a className="button-link" href={links.profile} onClick={onLinkClick} data-testid="span-profile">
            Profile this span
          </a>
        </div>
        <dl className="sd-facts">
          <dt>Duration</dt>
          <dd>
            {formatDurationNs(span.duration_ns)} <span className="muted">(self {formatDurationNs(node.selfNs)})</span>
          </dd>
          <dt>Start</dt>
          <dd>
            +{formatDurationNs(offset)} <span className="muted">{formatTime(span.start_ns / 1e6, true)}</span>
          </dd>
          <dt>Kind</dt>
          <dd>{span.kind}</dd>
          <dt>Status</dt>
          <dd>
            <span className={`badge ${span.status === 'error' ? 'error' : span.status === 'ok' ? 'ok' : ''}`}>
              {span.status}
            </span>{' '}
            {span.status_message}
          </dd>
          <dt>Span ID</dt>
          <dd className="mono">{span.span_id}</dd>
          <dt>Parent</dt>
          <dd className="mono">
            {node.parent ? (
              <button className="link-button" onClick={() => onSelect(node.parent!.span.span_id)}>
                {node.parent.span.name} <span className="muted">{span.parent_span_id}</span>
              </button>
            ) : span.parent_span_id ? (
              <span title="not in this trace">{span.parent_span_id} (missing)</span>
            ) : (
              <span className="muted">root</span>
            )}
          </dd>
        </dl>
        <Section title="Attributes" count={Object.keys(span.attributes).length} testId="span-attributes">
          <AttributeTable attributes={span.attributes} />
        </Section>
        <Section title="Events" count={span.events.length} testId="span-events">
          {span.events.length === 0 && <div className="muted attr-none">none</div>}
          {span.events.map((event, i) => (
            <div key={i} className="sd-item" data-testid="span-event">
              <div className="sd-item-title">
                <span className="mono muted">+{formatDurationNs(event.time_ns - span.start_ns)}</span> {event.name}
              </div>
              <AttributeTable attributes={event.attributes} />
            </div>
          ))}
        </Section>
        <Section title="Links" count={span.links.length} testId="span-links">
          {span.links.length === 0 && <div className="muted attr-none">none</div>}
          {span.links.map((link, i) => (
            <div key={i} className="sd-item">
              <div className="sd-item-title mono">
                <a
                  href={hrefWith(`/traces/${link.trace_id}`, { span: link.span_id })}
                  onClick={onLinkClick}
                  data-testid="span-link"
                >
                  {link.trace_id}
                </a>{' '}
                <span className="muted">span {link.span_id}</span>
              </div>
              <AttributeTable attributes={link.attributes} />
            </div>
          ))}
        </Section>
        <Section title="Resource" count={Object.keys(span.resource).length} testId="span-resource">
          <AttributeTable attributes={span.resource} />
        </Section>
        <Section title="Scope" testId="span-scope">
          <div className="mono sd-scope">
            {span.scope_name || <span className="muted">unnamed</span>}{' '}
            {span.scope_version && <span className="muted">{span.scope_version}</span>}
          </div>
        </Section>
      </div>
    </aside>
  );
}
