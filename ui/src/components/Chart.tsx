// Time-series chart on uPlot. Dragging across any chart zooms the global time
// range (every panel follows); points can be clicked (trace scatter plots).
import { useEffect, useMemo, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatTime, formatValue } from '../lib/format';
import { type ChartSeries, alignSeries, stackSeries } from '../lib/series';
import { zoomTo } from '../lib/time';

export type { ChartSeries } from '../lib/series';

export const PALETTE = [
  '#3b82f6',
  '#f59e0b',
  '#10b981',
  '#ef4444',
  '#8b5cf6',
  '#06b6d4',
  '#ec4899',
  '#84cc16',
  '#f97316',
  '#6366f1',
];

export function colorAt(index: number): string {
  return PALETTE[index % PALETTE.length];
}

function cssVar(name: string, fallback: string): string {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

export function Chart({
  series,
  unit,
  height = 200,
  mode = 'line',
  range,
  onPointClick,
  onSelect,
  stacked = false,
}: {
  series: ChartSeries[];
  unit?: string;
  height?: number;
  /** `line` joins points, `points` draws a scatter plot, `bars` draws bars. */
  mode?: 'line' | 'points' | 'bars';
  /** The x range in epoch ms, so empty edges still show the whole time range. */
  range?: { from: number; to: number };
  /** Called with the series index and point index of a clicked point. */
  onPointClick?: (seriesIndex: number, time: number, value: number) => void;
  /** Called with a dragged-across range (epoch ms) instead of zooming the global range. */
  onSelect?: (fromMs: number, toMs: number) => void;
  /** Each series drawn on top of the ones before it (volume histograms). */
  stacked?: boolean;
}) {
  const container = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const aligned = useMemo(() => alignSeries(series), [series]);
  // Stacked: series i is drawn at the sum of series 0..i, the tallest first
  // so the others paint over it; legends still show each series' own value.
  const { data, order } = useMemo(() => stackSeries(aligned, stacked), [aligned, stacked]);
  const clickRef = useRef(onPointClick);
  clickRef.current = onPointClick;
  const selectRef = useRef(onSelect);
  selectRef.current = onSelect;

  useEffect(() => {
    const element = container.current;
    if (!element) return;
    const axisColor = cssVar('--fg-muted', '#888');
    const gridColor = cssVar('--grid', 'rgba(128,128,128,0.15)');
    const paths =
      mode === 'points' ? () => null : mode === 'bars' ? uPlot.paths.bars!({ size: [0.8, 40] }) : undefined;
    const options: uPlot.Options = {
      width: element.clientWidth || 600,
      height,
      cursor: { drag: { x: true, y: false, setScale: false }, points: { size: 6 } },
      legend: { show: series.length > 0 },
      scales: {
        x: {
          time: true,
          ...(range ? { range: () => [range.from / 1000, range.to / 1000] as uPlot.Range.MinMax } : {}),
        },
      },
      axes: [
        { stroke: axisColor, grid: { stroke: gridColor }, ticks: { stroke: gridColor } },
        {
          stroke: axisColor,
          grid: { stroke: gridColor },
          ticks: { stroke: gridColor },
          // Wide enough for the longest tick label ("17.2 GiB", "1.25ms").
          size: (_u, values) => {
            const longest = Math.max(3, ...(values ?? []).map((v) => String(v).length));
            return Math.ceil(longest * 7 + 18);
          },
          values: (_u, values) => values.map((v) => formatValue(v, unit)),
        },
      ],
      series: [
        { value: (_u, v) => (v == null ? '' : formatTime(v * 1000)) },
        ...order.map((i) => {
          const s = series[i];
          const color = s.color ?? colorAt(i);
          return {
            label: s.label,
            stroke: color,
            fill: mode === 'bars' ? color + 'aa' : undefined,
            width: mode === 'points' ? 0 : 1.5,
            paths,
            spanGaps: false,
            points: mode === 'points' ? { show: true, size: 7, fill: color, stroke: color } : { show: false },
            value: (_u: uPlot, v: number | null, _s: number, idx: number | null) => {
              const own = stacked && idx != null ? aligned[i + 1][idx] : v;
              return own == null ? '' : formatValue(own as number, unit);
            },
          } as uPlot.Series;
        }),
      ],
      hooks: {
        setSelect: [
          (u) => {
            const { left, width } = u.select;
            if (width > 5) {
              const from = u.posToVal(left, 'x') * 1000;
              const to = u.posToVal(left + width, 'x') * 1000;
              u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
              (selectRef.current ?? zoomTo)(from, to);
            }
          },
        ],
      },
    };
    const instance = new uPlot(options, data, element);
    plot.current = instance;
    const onClick = () => {
      const idx = instance.cursor.idx;
      if (idx == null || !clickRef.current) return;
      // The series closest to the cursor on that x.
      const top = instance.cursor.top ?? 0;
      let best = -1;
      let bestDistance = Infinity;
      for (let s = 1; s < instance.data.length; s++) {
        const value = instance.data[s][idx];
        if (value == null) continue;
        const distance = Math.abs(instance.valToPos(value as number, 'y') - top);
        if (distance < bestDistance) {
          bestDistance = distance;
          best = s;
        }
      }
      if (best > 0 && bestDistance < 12)
        clickRef.current(order[best - 1], instance.data[0][idx] * 1000, aligned[order[best - 1] + 1][idx] as number);
    };
    instance.over.addEventListener('click', onClick);
    const observer = new ResizeObserver(() => {
      instance.setSize({ width: element.clientWidth, height });
    });
    observer.observe(element);
    return () => {
      observer.disconnect();
      instance.destroy();
      plot.current = null;
    };
  }, [data, order, aligned, stacked, height, mode, unit, range?.from, range?.to, series.length]);

  // The shown range and series count as attributes, for end-to-end tests.
  return (
    <div
      className="chart"
      ref={container}
      data-testid="chart"
      data-from={range?.from}
      data-to={range?.to}
      data-series={series.length}
    />
  );
}
