// A chart panel over one or more PromQL range queries, for dashboards (the
// System preset, the Overview): loading, empty and error states, and a link
// that opens its queries in the Metrics explorer.
import type { ReactNode } from 'react';
import { promRange, useQuery } from '../lib/api';
import type { QueryState } from '../lib/api';
import type { ExploreQuery } from '../lib/promql';
import { exploreParams, toChartSeries } from '../lib/promql';
import { stepFor, type Range } from '../lib/time';
import { href, onLinkClick } from '../lib/url';
import type { ChartSeries } from './Chart';
import { Chart } from './Chart';
import { Panel, QueryView } from './States';

export interface PanelQuery {
  expr: string;
  /** Legend format (`{{label}}`); the series name when left out. */
  legend?: string;
}

/** The series of every query over `range`, in query order. */
export function usePromRange(queries: PanelQuery[], range: Range, points = 240): QueryState<ChartSeries[]> {
  const key = JSON.stringify(queries);
  return useQuery(
    async (signal) => {
      const step = stepFor(range, points);
      const results = await Promise.all(queries.map((q) => promRange(q.expr, range.from, range.to, step, signal)));
      return results.flatMap((result, i) => toChartSeries(result, queries[i].legend));
    },
    [key, range, points],
  );
}

/** A link to the explorer with `queries` filled in. */
export function exploreHref(queries: PanelQuery[]): string {
  const explore: ExploreQuery[] = queries.map((q) => ({ expr: q.expr, legend: q.legend ?? '', view: 'graph' }));
  return href('/explore', exploreParams(explore));
}

export function PromChartPanel({
  title,
  queries,
  range,
  unit,
  testId,
  empty,
  actions,
  height = 200,
}: {
  title: ReactNode;
  queries: PanelQuery[];
  range: Range;
  unit?: string;
  testId: string;
  empty?: ReactNode;
  actions?: ReactNode;
  height?: number;
}) {
  const query = usePromRange(queries, range);
  return (
    <div data-testid={testId} className="prom-chart-panel">
      <Panel
        title={title}
        actions={
          <>
            {actions}
            <a href={exploreHref(queries)} onClick={onLinkClick} className="muted" title="Open these queries in the Metrics explorer">
              Explore
            </a>
          </>
        }
      >
        <QueryView query={query} isEmpty={(series) => series.every((s) => s.points.length === 0)} empty={empty}>
          {(series) => <Chart series={series} unit={unit} range={range} height={height} />}
        </QueryView>
      </Panel>
    </div>
  );
}
