import { describe, expect, it } from 'vitest';
import {
  cleanRule,
  defaultProfileType,
  equalityValue,
  exactPattern,
  exportUrl,
  formatSample,
  formatSelector,
  parseProfileType,
  parseSelector,
  profileTypeLabel,
  withEquality,
} from './profiles';

describe('profile types', () => {
  it('parses ids and labels them', () => {
    expect(parseProfileType('process_cpu:cpu:nanoseconds:cpu:nanoseconds')).toEqual({
      id: 'process_cpu:cpu:nanoseconds:cpu:nanoseconds',
      name: 'process_cpu',
      sampleType: 'cpu',
      sampleUnit: 'nanoseconds',
      periodType: 'cpu',
      periodUnit: 'nanoseconds',
    });
    expect(profileTypeLabel('memory:inuse_space:bytes:space:bytes')).toBe('memory · inuse_space');
    expect(profileTypeLabel('wall:wall:nanoseconds:wall:nanoseconds')).toBe('wall');
  });

  it('prefers CPU time, then wall time', () => {
    const node = [
      'memory:inuse_objects:count:inuse_space:bytes',
      'wall:samples:count:wall:nanoseconds',
      'wall:wall:nanoseconds:wall:nanoseconds',
    ];
    expect(defaultProfileType(node)).toBe('wall:wall:nanoseconds:wall:nanoseconds');
    expect(defaultProfileType([...node, 'wall:cpu:nanoseconds:wall:nanoseconds'])).toBe(
      'wall:cpu:nanoseconds:wall:nanoseconds',
    );
    expect(defaultProfileType(['memory:alloc_space:bytes:space:bytes'])).toBe('memory:alloc_space:bytes:space:bytes');
    expect(defaultProfileType([])).toBeUndefined();
  });

  it('formats values in the sample unit', () => {
    expect(formatSample(1_500_000_000, 'process_cpu:cpu:nanoseconds:cpu:nanoseconds')).toBe('1.5s');
    expect(formatSample(1500, 'x:cpu:microseconds:cpu:microseconds')).toBe('1.5ms');
    expect(formatSample(2048, 'memory:inuse_space:bytes:space:bytes')).toBe('2 KiB');
    expect(formatSample(1234, 'memory:inuse_objects:count:space:bytes')).toBe('1.23k');
  });
});

describe('selectors', () => {
  it('round-trips through text', () => {
    const text = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="api", route=~"/users.*", q!="a \\"b\\" \\\\c"}';
    const parsed = parseSelector(text)!;
    expect(parsed.type).toBe('process_cpu:cpu:nanoseconds:cpu:nanoseconds');
    expect(parsed.matchers).toEqual([
      { name: 'service_name', op: '=', value: 'api' },
      { name: 'route', op: '=~', value: '/users.*' },
      { name: 'q', op: '!=', value: 'a "b" \\c' },
    ]);
    expect(parseSelector(formatSelector(parsed))).toEqual(parsed);
  });

  it('accepts a bare type and bare matchers, refuses garbage', () => {
    expect(parseSelector('wall:wall:nanoseconds:wall:nanoseconds')).toEqual({
      type: 'wall:wall:nanoseconds:wall:nanoseconds',
      matchers: [],
    });
    expect(parseSelector('{service_name="a"}')).toEqual({ type: '', matchers: [{ name: 'service_name', op: '=', value: 'a' }] });
    expect(parseSelector('cpu{service_name=a}')).toBeNull();
    expect(parseSelector('cpu{service_name="a"')).toBeNull();
  });

  it('reads and replaces equality matchers', () => {
    const selector = parseSelector('t{service_name="a", env="prod"}')!;
    expect(equalityValue(selector, 'service_name')).toBe('a');
    expect(equalityValue(selector, 'region')).toBeUndefined();
    expect(formatSelector(withEquality(selector, 'service_name', 'b'))).toBe('t{service_name="b", env="prod"}');
    expect(formatSelector(withEquality(selector, 'service_name', undefined))).toBe('t{env="prod"}');
  });
});

describe('requests and rules', () => {
  it('builds export links without the node budget', () => {
    const url = exportUrl({ query: 't{}', from: 1000.4, until: 2000.2 }, { rules: 'none', maxNodes: 100 }, 'folded');
    expect(url).toBe('/api/v1/profiles/export?query=t%7B%7D&from=1000&until=2001&rules=none&format=folded');
  });

  it('keeps only the fields a rule kind takes', () => {
    expect(cleanRule({ kind: 'hide', pattern: 'p', field: 'file', name: 'x', replacement: 'y', color: '#fff' })).toEqual({
      kind: 'hide',
      pattern: 'p',
      field: 'file',
    });
    expect(cleanRule({ kind: 'rename', pattern: 'p', field: 'file', replacement: 'r' })).toEqual({
      kind: 'rename',
      pattern: 'p',
      replacement: 'r',
    });
    expect(cleanRule({ id: 'a', kind: 'tag', pattern: 'p', name: 'db', color: '#8e44ad', enabled: false })).toEqual({
      id: 'a',
      kind: 'tag',
      pattern: 'p',
      name: 'db',
      color: '#8e44ad',
      enabled: false,
    });
  });

  it('escapes a name into an exact regex pattern', () => {
    expect(exactPattern('a.b(c)*:1')).toBe('regex:^a\\.b\\(c\\)\\*:1$');
    expect(new RegExp(exactPattern('x[1]+$').slice('regex:'.length)).test('x[1]+$')).toBe(true);
  });
});
