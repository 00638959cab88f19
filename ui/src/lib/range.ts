// The global time range pinned for queries and charts: `useTimeRange` resolves
// `now-1h` against the clock on every render, so its numbers would reload a
// query (or rebuild a chart) on every render. These change only with the URL's
// expressions or a refresh tick.
import { useMemo } from 'react';
import { useTimeRange } from './time';

export interface Range {
  /** Epoch ms. */
  from: number;
  to: number;
}

export function useQueryRange(): Range {
  const { from, to, rawFrom, rawTo, tick } = useTimeRange();
  // eslint-disable-next-line react-hooks/exhaustive-deps
  return useMemo(() => ({ from, to }), [rawFrom, rawTo, tick]);
}
