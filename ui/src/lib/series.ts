// Series data for charts: joining series on one time axis and stacking them.
// Kept apart from Chart.tsx so it can be tested without a browser (uPlot
// needs one at import).
import type uPlot from 'uplot';

export interface ChartSeries {
  label: string;
  /** `[epoch ms, value]` pairs, ascending by time. */
  points: [number, number][];
  color?: string;
}

/** Joins series on one shared, sorted x axis (seconds), with gaps as null. */
export function alignSeries(series: ChartSeries[]): uPlot.AlignedData {
  const xs = new Set<number>();
  series.forEach((s) => s.points.forEach(([t]) => xs.add(t)));
  const times = [...xs].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const columns = series.map((s) => {
    const column: (number | null)[] = new Array(times.length).fill(null);
    s.points.forEach(([t, v]) => {
      column[index.get(t)!] = Number.isFinite(v) ? v : null;
    });
    return column;
  });
  return [times.map((t) => t / 1000), ...columns] as uPlot.AlignedData;
}

/**
 * With `stacked`, cumulative sums in reverse order (tallest first); else the
 * data as is. `order[k]` is the input series drawn as uPlot series k + 1.
 */
export function stackSeries(aligned: uPlot.AlignedData, stacked: boolean): { data: uPlot.AlignedData; order: number[] } {
  const count = aligned.length - 1;
  const identity = Array.from({ length: count }, (_, i) => i);
  if (!stacked) return { data: aligned, order: identity };
  const length = aligned[0].length;
  const sums: (number | null)[][] = [];
  const running: number[] = new Array(length).fill(0);
  for (let s = 1; s <= count; s++) {
    const column = aligned[s] as (number | null)[];
    sums.push(
      column.map((v, i) => {
        if (v == null) return null;
        running[i] += v;
        return running[i];
      }),
    );
  }
  const order = identity.reverse();
  return { data: [aligned[0], ...order.map((i) => sums[i])] as uPlot.AlignedData, order };
}
