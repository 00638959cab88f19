import { describe, expect, it } from 'vitest';
import { alignSeries, stackSeries } from './series';

describe('alignSeries', () => {
  it('joins series on one sorted time axis in seconds with gaps as null', () => {
    const aligned = alignSeries([
      { label: 'a', points: [[2000, 1], [1000, 2]] },
      { label: 'b', points: [[3000, 5]] },
    ]);
    expect(aligned[0]).toEqual([1, 2, 3]);
    expect(aligned[1]).toEqual([2, 1, null]);
    expect(aligned[2]).toEqual([null, null, 5]);
  });
});

describe('stackSeries', () => {
  const aligned = alignSeries([
    { label: 'info', points: [[1000, 3], [2000, 1]] },
    { label: 'warn', points: [[1000, 2]] },
    { label: 'error', points: [[1000, 1], [2000, 4]] },
  ]);

  it('leaves unstacked data alone', () => {
    const { data, order } = stackSeries(aligned, false);
    expect(data).toBe(aligned);
    expect(order).toEqual([0, 1, 2]);
  });

  it('draws cumulative sums, tallest first', () => {
    const { data, order } = stackSeries(aligned, true);
    expect(order).toEqual([2, 1, 0]);
    expect(data[0]).toEqual([1, 2]);
    expect(data[1]).toEqual([6, 5]); // info + warn + error
    expect(data[2]).toEqual([5, null]); // info + warn; no warn at t=2
    expect(data[3]).toEqual([3, 1]); // info
  });
});
