// Overview: one service at a glance over the global time range — request
// rate, error share and latency of its busiest routes (span metrics), host
// CPU and memory (node_exporter), its CPU flamegraph, and its traces as a
// duration scatter plot and a sortable table. `service`, `route` and the
// profile type (`ptype`) are in the URL; dragging across a chart zooms every
// panel (Chart sets the global range).
import { useEffect, useMemo } from 'react';
import type { ReactNode } from 'react';
import { getJson, promInstant, promRange, promString, useQuery } from '../lib/api';
import type { QueryState } from '../lib/api';
import { hostCpuQuery, hostMemoryQuery } from '../lib/hostmetrics';
import { defaultProfileType, fetchLabelValues, profileTypeLabel } from '../lib/profiles';
import { rangeWindow, rateWindow, selector } from '../lib/promql';
import {
  errorRatioQuery,
  latencyQuery,
  rateQuery,
  ROUTE_LABEL,
  routeSeries,
  SPAN_METRICS,
  topRoutes,
} from '../lib/spanmetrics';
import { stepFor, type Range, useTimeRange } from '../lib/time';
import { href, onLinkClick, setParams, useParam } from '../lib/url';
import type { ChartSeries } from '../components/Chart';
import { Chart, colorAt } from '../components/Chart';
import { ProfileFlamegraph } from '../components/Flamegraph';
import { PromChartPanel } from '../components/PromChart';
import { ErrorState, Panel, QueryView } from '../components/States';
import { TraceScatter, TraceTable, useTraceSearch } from '../components/TraceList';
import './overview.css';

/** Routes drawn per panel: the busiest over the range. */
const TOP_ROUTES = 5;
/** Traces listed and plotted. */
const TRACE_LIMIT = 100;

export default function Overview() {
  const range = useTimeRange();
  const [service] = useParam('service');
  const [route, setRoute] = useParam('route');
  const choices = useQuery((signal) => loadServiceChoices(range, signal), [range]);

  // Without a service in the URL, open the busiest one (and say so in the URL,
  // so the view stays a shareable link).
  const busiest = choices.data?.busiest;
  useEffect(() => {
    if (!service && busiest) setParams({ service: busiest }, true);
  }, [service, busiest]);

  return (
    <>
      <div className="toolbar overview-toolbar">
        <label>
          Service
          <select
            value={service}
            onChange={(e) => setParams({ service: e.target.value, route: undefined, ptype: undefined })}
            data-testid="overview-service"
          >
            {!service && <option value="">{choices.loading ? 'Loading…' : 'Pick a service'}</option>}
            {withCurrent(choices.data?.services ?? [], service).map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <RouteSelect service={service} route={route} range={range} onChange={setRoute} />
        {service && (
          <div className="overview-links">
            <a href={href('/traces', { service })} onClick={onLinkClick}>
              Traces of {service}
            </a>
            <a href={href('/services', { focus: service })} onClick={onLinkClick}>
              On the service map
            </a>
          </div>
        )}
      </div>
      {choices.error && <ErrorState error={choices.error} />}
      {choices.data && choices.data.services.length === 0 && !service ? (
        <Panel title="No services">
          <div className="state state-empty">
            No spans in this time range. Send traces over OTLP (gRPC :4317, HTTP :4318) and the services show up here.
          </div>
        </Panel>
      ) : (
        service && <ServiceOverview key={service} service={service} route={route} range={range} />
      )}
    </>
  );
}

/** `list` with `current` in it, so a service from a link stays selectable when it has no spans now. */
function withCurrent(list: string[], current: string): string[] {
  return current && !list.includes(current) ? [current, ...list] : list;
}

interface ServiceChoices {
  services: string[];
  busiest?: string;
}

async function loadServiceChoices(range: Range, signal: AbortSignal): Promise<ServiceChoices> {
  const [listed, rates] = await Promise.all([
    getJson<{ services: string[] }>('/api/v1/services', { from: range.from, until: range.to }, signal),
    promInstant(`topk(1, ${rateQuery({}, ['service'], rangeWindow(range))})`, range.to, signal),
  ]);
  return { services: listed.services, busiest: rates[0]?.metric.service ?? listed.services[0] };
}

function RouteSelect({
  service,
  route,
  range,
  onChange,
}: {
  service: string;
  route: string;
  range: Range;
  onChange: (route: string) => void;
}) {
  const routes = useQuery(
    (signal) =>
      service
        ? getJson<{ data: string[] }>(
            `/prometheus/api/v1/label/${ROUTE_LABEL}/values`,
            {
              'match[]': selector(SPAN_METRICS.calls, { service }),
              start: Math.floor(range.from / 1000),
              end: Math.ceil(range.to / 1000),
            },
            signal,
          ).then((body) => body.data)
        : undefined,
    [service, range],
  );
  return (
    <label>
      Route
      <select value={route} onChange={(e) => onChange(e.target.value)} disabled={!service} data-testid="overview-route">
        <option value="">All routes (top {TOP_ROUTES})</option>
        {withCurrent(routes.data ?? [], route).map((name) => (
          <option key={name} value={name}>
            {name}
          </option>
        ))}
      </select>
    </label>
  );
}

function ServiceOverview({ service, route, range }: { service: string; route: string; range: Range }) {
  const red = useQuery((signal) => loadRouteCharts(service, route, range, signal), [service, route, range]);
  const window = rateWindow(stepFor(range));
  const hostQueries = useMemo(
    () => ({
      cpu: [{ expr: hostCpuQuery(window), legend: '{{instance}}' }],
      memory: [{ expr: hostMemoryQuery(), legend: '{{instance}}' }],
    }),
    [window],
  );
  const scope = route ? `${service} ${route}` : `${service}, top ${TOP_ROUTES} routes`;
  const noSpanMetrics = `No span metrics for ${scope} in this time range.`;

  return (
    <>
      <div className="grid-2">
        <RoutePanel title="Requests / s" testId="overview-request-rate" query={red} pick={(c) => c.rate} range={range} empty={noSpanMetrics} />
        <RoutePanel title="Errors" unit="percent" testId="overview-error-rate" query={red} pick={(c) => c.errors} range={range} empty={noSpanMetrics} />
        <RoutePanel title="Latency P50" unit="s" testId="overview-latency-p50" query={red} pick={(c) => c.p50} range={range} empty={noSpanMetrics} />
        <RoutePanel title="Latency P99" unit="s" testId="overview-latency-p99" query={red} pick={(c) => c.p99} range={range} empty={noSpanMetrics} />
        <PromChartPanel
          title="Host CPU utilisation"
          unit="percent"
          queries={hostQueries.cpu}
          range={range}
          testId="overview-host-cpu"
          empty={<HostHint />}
        />
        <PromChartPanel
          title="Host memory utilisation"
          unit="percent"
          queries={hostQueries.memory}
          range={range}
          testId="overview-host-memory"
          empty={<HostHint />}
        />
      </div>
      <FlamegraphPanel service={service} range={range} />
      <TracesPanels service={service} route={route} range={range} />
    </>
  );
}

function HostHint() {
  return (
    <>
      No node_exporter series in this time range: add it to <code>scrape_configs</code> in <code>vispyr.yaml</code>.
    </>
  );
}

interface RouteCharts {
  rate: ChartSeries[];
  errors: ChartSeries[];
  p50: ChartSeries[];
  p99: ChartSeries[];
}

/** Rate, error share and latency by route; all four keep the routes busiest by rate, in the same colours. */
async function loadRouteCharts(service: string, route: string, range: Range, signal: AbortSignal): Promise<RouteCharts> {
  const step = stepFor(range);
  const window = rateWindow(step);
  const filter = { service, route: route || undefined };
  const groups = [ROUTE_LABEL];
  const [rate, errors, p50, p99] = await Promise.all(
    [
      rateQuery(filter, groups, window),
      errorRatioQuery(filter, groups, window),
      latencyQuery(0.5, filter, groups, window),
      latencyQuery(0.99, filter, groups, window),
    ].map((query) => promRange(query, range.from, range.to, step, signal)),
  );
  const routes = topRoutes(rate, TOP_ROUTES);
  return {
    rate: routeSeries(rate, routes, colorAt),
    errors: routeSeries(errors, routes, colorAt, 100),
    p50: routeSeries(p50, routes, colorAt),
    p99: routeSeries(p99, routes, colorAt),
  };
}

function RoutePanel({
  title,
  unit,
  testId,
  query,
  pick,
  range,
  empty,
}: {
  title: string;
  unit?: string;
  testId: string;
  query: QueryState<RouteCharts>;
  pick: (charts: RouteCharts) => ChartSeries[];
  range: Range;
  empty: ReactNode;
}) {
  return (
    <div data-testid={testId}>
      <Panel title={title}>
        <QueryView query={query} isEmpty={(charts) => pick(charts).every((s) => s.points.length === 0)} empty={empty}>
          {(charts) => <Chart series={pick(charts)} unit={unit} range={range} height={200} />}
        </QueryView>
      </Panel>
    </div>
  );
}

function FlamegraphPanel({ service, range }: { service: string; range: Range }) {
  const [chosen, setChosen] = useParam('ptype');
  const types = useQuery(
    (signal) => fetchLabelValues('__profile_type__', `{service_name=${promString(service)}}`, range.from, range.to, signal),
    [service, range],
  );
  const available = types.data ?? [];
  const profileType = chosen && available.includes(chosen) ? chosen : defaultProfileType(available);

  return (
    <div data-testid="overview-flamegraph">
      <Panel
        title={`CPU profile of ${service}`}
        actions={
          available.length > 1 && (
            <select value={profileType} onChange={(e) => setChosen(e.target.value)} data-testid="overview-profile-type">
              {available.map((type) => (
                <option key={type} value={type}>
                  {profileTypeLabel(type)}
                </option>
              ))}
            </select>
          )
        }
      >
        <QueryView
          query={types}
          isEmpty={(list) => list.length === 0}
          empty={`No profiles of ${service} in this time range. Profilers (Pyroscope SDKs, OTLP profiles) name the service in service_name.`}
        >
          {() => <ProfileFlamegraph service={service} profileType={profileType!} from={range.from} to={range.to} height={360} />}
        </QueryView>
      </Panel>
    </div>
  );
}

function TracesPanels({ service, route, range }: { service: string; route: string; range: Range }) {
  const traces = useTraceSearch({
    service,
    attr: route ? [`http.route=${route}`] : undefined,
    limit: TRACE_LIMIT,
  });
  const scope = route ? `${service} ${route}` : service;
  return (
    <>
      <div data-testid="overview-trace-scatter">
        <Panel title={`Trace durations of ${scope}`}>
          <QueryView query={traces} isEmpty={(list) => list.length === 0} empty={`No traces of ${scope} in this time range.`}>
            {(list) => <TraceScatter traces={list} range={range} />}
          </QueryView>
        </Panel>
      </div>
      <div data-testid="overview-traces">
        <Panel
          title={`Traces of ${scope}`}
          actions={
            <a href={href('/traces', { service })} onClick={onLinkClick} className="muted">
              Search traces
            </a>
          }
        >
          <QueryView query={traces} isEmpty={(list) => list.length === 0} empty={`No traces of ${scope} in this time range.`}>
            {(list) => <TraceTable traces={list} />}
          </QueryView>
        </Panel>
      </div>
    </>
  );
}
