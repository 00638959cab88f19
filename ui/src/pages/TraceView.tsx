// /traces/<trace id>: header (root, duration, spans, services, errors), links
// to the trace's logs and profile, the waterfall and the selected span's
// details. Selection (`span`), collapsing (`fold`, `toggle`) and emphasis
// (`emph`) are in the URL.
import { useMemo } from 'react';
import { ServiceDot } from '../components/TraceList';
import { SpanDetails, telemetryLinks } from '../components/SpanDetails';
import { Panel, QueryView } from '../components/States';
import { type Emphasis, Waterfall } from '../components/Waterfall';
import { useQuery } from '../lib/api';
import { formatDurationNs, formatTime } from '../lib/format';
import { hrefWith, setParamsWith } from '../lib/searchParams';
import { useTimeRange } from '../lib/time';
import { buildTree, fetchTrace, foldFromParams, foldValues, TRACE_QUERY_PARAMS, type TraceTree } from '../lib/traces';
import { onLinkClick, useLocation } from '../lib/url';

export function TraceView({ traceId }: { traceId: string }) {
  const { tick } = useTimeRange();
  const trace = useQuery((signal) => fetchTrace(traceId, signal), [traceId, tick]);
  const tree = useMemo(() => trace.data && buildTree(trace.data.trace_id, trace.data.spans), [trace.data]);

  return (
    <div className="trace-view" data-testid="trace-view" data-trace-id={traceId}>
      <BackToSearch />
      <QueryView query={{ ...trace, data: tree }} isEmpty={(t) => t.nodes.length === 0} empty="This trace has no spans.">
        {(t) => <TraceContent tree={t} />}
      </QueryView>
    </div>
  );
}

/** Back to the search the trace was opened from (its parameters ride along). */
function BackToSearch() {
  const { params } = useLocation();
  const search = Object.fromEntries(
    [...TRACE_QUERY_PARAMS, 'sort'].map((name) => [name, params.getAll(name)] as [string, string[]]),
  );
  return (
    <a className="trace-back" href={hrefWith('/traces', search)} onClick={onLinkClick} data-testid="trace-back">
      ← Trace search
    </a>
  );
}

function TraceContent({ tree }: { tree: TraceTree }) {
  const { params } = useLocation();
  const foldText = `${params.get('fold')}|${params.get('toggle')}`;
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const fold = useMemo(() => foldFromParams(params), [foldText]);
  const emphasis: Emphasis = params.get('emph') === 'self' ? 'self' : 'critical';
  const selected = tree.byId.get(params.get('span') ?? '');

  return (
    <>
      <TraceHeader tree={tree} />
      <div className={`trace-body ${selected ? 'with-details' : ''}`}>
        <Panel title="Waterfall" className="trace-waterfall">
          <Waterfall
            tree={tree}
            fold={fold}
            onFoldChange={(next) => setParamsWith(foldValues(next), true)}
            emphasis={emphasis}
            onEmphasisChange={(next) => setParamsWith({ emph: next === 'critical' ? undefined : next }, true)}
            selected={selected?.span.span_id}
            onSelect={(span) => setParamsWith({ span }, true)}
          />
        </Panel>
        {selected && (
          <SpanDetails
            key={selected.span.span_id}
            node={selected}
            tree={tree}
            onSelect={(span) => setParamsWith({ span }, true)}
            onClose={() => setParamsWith({ span: undefined }, true)}
          />
        )}
      </div>
    </>
  );
}

function TraceHeader({ tree }: { tree: TraceTree }) {
  const root = tree.roots[0].span;
  const links = telemetryLinks(tree, root.service_name);
  const orphans = tree.roots.filter((node) => node.orphan).length;
  return (
    <section className="panel trace-header" data-testid="trace-header">
      <div className="trace-title">
        <h1>
          <ServiceDot service={root.service_name} />
          <span className="muted">{root.service_name}</span> {root.name}
        </h1>
        <div className="trace-actions">
          <a className="button-link" href={links.logs} onClick={onLinkClick} data-testid="trace-logs">
            Logs for this trace
          </a>
          <a className="button-link" href={links.profile} onClick={onLinkClick} data-testid="trace-profile">
            Profile
          </a>
        </div>
      </div>
      <dl className="trace-facts">
        <div>
          <dt>Trace ID</dt>
          <dd className="mono">{tree.traceId}</dd>
        </div>
        <div>
          <dt>Start</dt>
          <dd>{formatTime(tree.startNs / 1e6, true)}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd data-testid="trace-duration">{formatDurationNs(tree.durationNs)}</dd>
        </div>
        <div>
          <dt>Spans</dt>
          <dd data-testid="trace-span-count">{tree.nodes.length}</dd>
        </div>
        <div>
          <dt>Errors</dt>
          <dd>{tree.errorCount > 0 ? <span className="badge error">{tree.errorCount}</span> : <span className="muted">0</span>}</dd>
        </div>
        <div className="trace-services">
          <dt>Services</dt>
          <dd>
            {tree.services.map((service) => (
              <span key={service} className="service-chip">
                <ServiceDot service={service} />
                {service}
              </span>
            ))}
          </dd>
        </div>
      </dl>
      {orphans > 0 && (
        <div className="muted trace-orphans">
          {orphans} span{orphans === 1 ? ' has' : 's have'} a parent that is not in the trace (shown as roots).
        </div>
      )}
    </section>
  );
}
