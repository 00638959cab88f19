import { describe, expect, it } from 'vitest';
import {
  logFilterFromParams,
  logFilterValues,
  parseTailEvent,
  prependLive,
  tailUrl,
  validAttrFilter,
  volumeSeries,
  type LogEntry,
  type LogRecord,
} from './logs';
import { applyValues } from './searchParams';

describe('log filter and URL', () => {
  it('round-trips repeated services and attributes', () => {
    const filter = logFilterFromParams(
      new URLSearchParams('service=a&service=b&level=warn&q=timeout&match=regex&attr=k=v&attr=x!~y&trace_id=ABC&span_id=Def'),
    );
    expect(filter).toEqual({
      service: ['a', 'b'],
      level: 'warn',
      q: 'timeout',
      match: 'regex',
      attr: ['k=v', 'x!~y'],
      trace_id: 'abc',
      span_id: 'def',
    });
    const params = applyValues(new URLSearchParams('from=now-6h&level=info'), logFilterValues(filter));
    expect(params.getAll('service')).toEqual(['a', 'b']);
    expect(params.get('from')).toBe('now-6h');
    expect(logFilterFromParams(params)).toEqual(filter);
  });

  it('ignores unknown levels and modes, and a mode without text', () => {
    const filter = logFilterFromParams(new URLSearchParams('level=loud&match=fuzzy'));
    expect([filter.level, filter.match]).toEqual([undefined, undefined]);
    expect(logFilterValues({ service: [], attr: [], match: 'regex' }).match).toBeUndefined();
    expect(logFilterValues({ service: [], attr: [], q: 'x', match: 'icontains' }).match).toBeUndefined();
  });

  it('builds the tail URL without a time range', () => {
    expect(tailUrl({ service: ['api'], attr: ['a=1'], level: 'error', q: 'x' })).toBe(
      '/api/v1/logs/tail?service=api&level=error&q=x&attr=a%3D1',
    );
  });

  it('checks attribute conditions like the API', () => {
    expect(['a=b', 'a!=b', 'a=~b.*', 'a!~b', 'http.route=/a=b'].every(validAttrFilter)).toBe(true);
    expect(['novalue', '=x', 'a!b', ''].some(validAttrFilter)).toBe(false);
  });
});

describe('volume', () => {
  it('makes one series per level, largest first', () => {
    const series = volumeSeries({
      interval_ms: 1000,
      times: [0, 1000, 2000, 3000],
      levels: { error: [0, 1, 0, 0], info: [5, 7, 1, 1] },
    });
    expect(series.map((s) => s.label)).toEqual(['info', 'error']);
    expect(series[1].points).toEqual([
      [0, 0],
      [1000, 1],
      [2000, NaN],
      [3000, 0],
    ]);
    expect(series[1].color).toBe('#ef4444');
  });
});

describe('live tail', () => {
  const entry = (key: number) => ({ key, record: { body: String(key) } as LogRecord }) as LogEntry;

  it('puts new lines on top, newest first, and caps the list', () => {
    const { entries, trimmed } = prependLive([entry(2), entry(1)], [entry(3), entry(4)], 3);
    expect(entries.map((e) => e.key)).toEqual([4, 3, 2]);
    expect(trimmed).toBe(true);
    expect(prependLive([entry(1)], [entry(2)], 5).trimmed).toBe(false);
  });

  it('parses a tail event', () => {
    const record = parseTailEvent('{"body":"hi","attributes":{"n":1}}');
    expect(record.body).toBe('hi');
    expect(record.attributes.n).toBe(1);
  });
});
