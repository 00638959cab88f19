import { describe, expect, it } from 'vitest';
import {
  applyCompletion,
  exploreParams,
  readExploreQueries,
  completionContext,
  legendFor,
  promDuration,
  rankSuggestions,
  regexEscape,
  selector,
  seriesName,
  toChartSeries,
} from './promql';

/** The context at the `|` in `text` (the bar is removed). */
function at(textWithCursor: string) {
  const cursor = textWithCursor.indexOf('|');
  const text = textWithCursor.replace('|', '');
  return { text, cursor, context: completionContext(text, cursor) };
}

describe('completionContext', () => {
  it('completes metric names at the start and inside calls', () => {
    expect(at('node_c|').context).toMatchObject({ kind: 'metric', prefix: 'node_c', start: 0, end: 6 });
    expect(at('rate(node_c|').context).toMatchObject({ kind: 'metric', prefix: 'node_c', start: 5 });
    expect(at('|').context).toMatchObject({ kind: 'metric', prefix: '' });
    expect(at('sum(rate(x[5m])) / |').context).toMatchObject({ kind: 'metric', prefix: '' });
  });

  it('covers the whole word when the cursor is inside it', () => {
    expect(at('node_c|pu').context).toMatchObject({ kind: 'metric', prefix: 'node_c', start: 0, end: 8 });
  });

  it('suggests nothing right after an operand or inside a number', () => {
    expect(at('rate(x[5m]) |').context.kind).toBe('none');
    expect(at('x > 10|').context.kind).toBe('none');
  });

  it('completes label names after { and , in a selector', () => {
    expect(at('up{|').context).toMatchObject({ kind: 'label-name', prefix: '', metric: 'up', inSelector: true });
    expect(at('up{jo|').context).toMatchObject({ kind: 'label-name', prefix: 'jo', start: 3 });
    expect(at('up{job="a", ins|}').context).toMatchObject({
      kind: 'label-name',
      prefix: 'ins',
      metric: 'up',
      matchers: ['job="a"'],
    });
    expect(at('{|').context).toMatchObject({ kind: 'label-name', metric: undefined });
  });

  it('does not complete label names in the middle of a matcher', () => {
    expect(at('up{job=|').context.kind).toBe('none');
  });

  it('completes label values inside the quotes after label=', () => {
    expect(at('up{job="no|').context).toMatchObject({
      kind: 'label-value',
      prefix: 'no',
      label: 'job',
      operator: '=',
      metric: 'up',
      quote: '"',
      start: 8,
    });
    expect(at('rate(http{code!~"5|"}[5m])').context).toMatchObject({ kind: 'label-value', label: 'code', operator: '!~' });
    expect(at('up{a="x", b=~"|').context).toMatchObject({ kind: 'label-value', label: 'b', matchers: ['a="x"'] });
  });

  it('skips escaped quotes inside strings', () => {
    expect(at('up{a="x\\"y", b="|').context).toMatchObject({ kind: 'label-value', label: 'b', matchers: ['a="x\\"y"'] });
  });

  it('ignores strings outside selectors', () => {
    expect(at('label_replace(up, "dst", "|').context.kind).toBe('none');
  });

  it('completes label names in by/without lists', () => {
    expect(at('sum by (mo|) (x)').context).toMatchObject({ kind: 'label-name', prefix: 'mo' });
    expect(at('sum(x) without (|').context).toMatchObject({ kind: 'label-name', prefix: '' });
    expect(at('sum by (mode) (rate(|').context).toMatchObject({ kind: 'metric' });
  });

  it('completes durations inside brackets', () => {
    expect(at('rate(x[|').context).toMatchObject({ kind: 'duration', prefix: '' });
    expect(at('rate(x[5|]').context).toMatchObject({ kind: 'duration', prefix: '5' });
  });

  it('ignores comments', () => {
    expect(at('# up{|').context.kind).toBe('none');
    expect(at('# note\nup{|').context.kind).toBe('label-name');
  });
});

describe('applyCompletion', () => {
  it('replaces the word with a metric name', () => {
    const { text, context } = at('rate(node_c|pu[5m])');
    expect(applyCompletion(text, context, { value: 'node_cpu_seconds_total', type: 'metric' })).toEqual({
      text: 'rate(node_cpu_seconds_total[5m])',
      cursor: 27,
    });
  });

  it('opens the call of a function', () => {
    const { text, context } = at('ra|');
    expect(applyCompletion(text, context, { value: 'rate', type: 'function' })).toEqual({ text: 'rate(', cursor: 5 });
  });

  it('opens the quotes after a label name in a selector', () => {
    const { text, context } = at('up{jo|}');
    expect(applyCompletion(text, context, { value: 'job', type: 'label' })).toEqual({ text: 'up{job=""}', cursor: 8 });
  });

  it('keeps an existing operator when renaming a label', () => {
    const { text, context } = at('up{jo|="x"}');
    expect(applyCompletion(text, context, { value: 'job', type: 'label' }).text).toBe('up{job="x"}');
  });

  it('inserts a bare label name in by lists', () => {
    const { text, context } = at('sum by (mo|) (x)');
    expect(applyCompletion(text, context, { value: 'mode', type: 'label' })).toEqual({
      text: 'sum by (mode) (x)',
      cursor: 12,
    });
  });

  it('escapes and closes label values', () => {
    const { text, context } = at('up{job="|"}');
    expect(applyCompletion(text, context, { value: 'a"b\\c', type: 'value' })).toEqual({
      text: 'up{job="a\\"b\\\\c"}',
      cursor: 16,
    });
    const open = at('up{job="no|');
    expect(applyCompletion(open.text, open.context, { value: 'node', type: 'value' }).text).toBe('up{job="node"');
  });

  it('escapes regex metacharacters after =~', () => {
    const { text, context } = at('x{route=~"|"}');
    expect(applyCompletion(text, context, { value: '/a.b', type: 'value' }).text).toBe('x{route=~"/a\\\\.b"}');
  });
});

describe('query building', () => {
  it('builds selectors with escaped values', () => {
    expect(selector('up')).toBe('up');
    expect(selector('up', { job: 'a"b', instance: undefined })).toBe('up{job="a\\"b"}');
    expect(selector('x', { service: 'svc' }, ['span_kind=~"A|B"'])).toBe('x{service="svc", span_kind=~"A|B"}');
  });

  it('escapes regular expressions', () => {
    expect(regexEscape('/api/v1.0/(x)')).toBe('/api/v1\\.0/\\(x\\)');
  });

  it('writes durations', () => {
    expect(promDuration(90)).toBe('90s');
    expect(promDuration(300)).toBe('5m');
    expect(promDuration(7200)).toBe('2h');
    expect(promDuration(0.2)).toBe('1s');
  });
});

describe('legends and series', () => {
  const metric = { __name__: 'up', job: 'node', instance: 'a:9100' };

  it('names series as Prometheus prints them', () => {
    expect(seriesName(metric)).toBe('up{instance="a:9100", job="node"}');
    expect(seriesName({})).toBe('{}');
    expect(seriesName({ mode: 'idle' })).toBe('{mode="idle"}');
  });

  it('fills legend formats', () => {
    expect(legendFor(metric, '{{job}} on {{ instance }}')).toBe('node on a:9100');
    expect(legendFor(metric, '{{missing}}x')).toBe('x');
    expect(legendFor(metric)).toBe(seriesName(metric));
  });

  it('converts range results to chart series', () => {
    const series = toChartSeries(
      [
        {
          metric,
          values: [
            [1700000000, '1'],
            [1700000015.5, 'NaN'],
            [1700000030, '+Inf'],
            [1700000045, '2.5'],
          ],
        },
      ],
      '{{job}}',
    );
    expect(series).toEqual([
      {
        label: 'node',
        points: [
          [1700000000000, 1],
          [1700000045000, 2.5],
        ],
      },
    ]);
  });
});

describe('rankSuggestions', () => {
  const items = ['node_load1', 'node_cpu_seconds_total', 'process_cpu_seconds_total', 'up'].map((value) => ({
    value,
    type: 'metric' as const,
  }));

  it('puts prefix matches before substring matches', () => {
    expect(rankSuggestions(items, 'cpu').map((s) => s.value)).toEqual([
      'node_cpu_seconds_total',
      'process_cpu_seconds_total',
    ]);
    expect(rankSuggestions(items, 'node').map((s) => s.value)).toEqual(['node_load1', 'node_cpu_seconds_total']);
  });

  it('leaves out an exact match and applies the limit', () => {
    expect(rankSuggestions(items, 'up')).toEqual([]);
    expect(rankSuggestions(items, '', 2)).toHaveLength(2);
  });
});

describe('explorer URL state', () => {
  it('reads indexed queries with defaults', () => {
    const params = new URLSearchParams('q0=up&l1=%7B%7Bjob%7D%7D&v1=table&q1=rate(x%5B5m%5D)');
    expect(readExploreQueries(params)).toEqual([
      { expr: 'up', legend: '', view: 'graph' },
      { expr: 'rate(x[5m])', legend: '{{job}}', view: 'table' },
    ]);
    expect(readExploreQueries(new URLSearchParams())).toEqual([{ expr: '', legend: '', view: 'graph' }]);
    expect(readExploreQueries(new URLSearchParams('q0=up&n=3'))).toHaveLength(3);
  });

  it('writes queries back and clears removed ones', () => {
    const queries = [
      { expr: 'up', legend: '', view: 'graph' as const },
      { expr: '', legend: '', view: 'graph' as const },
    ];
    expect(exploreParams(queries, 3)).toEqual({
      q0: 'up',
      l0: undefined,
      v0: undefined,
      q1: undefined,
      l1: undefined,
      v1: undefined,
      q2: undefined,
      l2: undefined,
      v2: undefined,
      n: '2',
    });
    const round = new URLSearchParams();
    Object.entries(exploreParams(queries)).forEach(([k, v]) => v !== undefined && round.set(k, v));
    expect(readExploreQueries(round)).toEqual(queries);
  });
});
