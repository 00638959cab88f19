import { describe, expect, it } from 'vitest';
import { allValues, applyValues, hrefWith } from './searchParams';

describe('search params', () => {
  it('repeats arrays and removes empty values', () => {
    const params = applyValues(new URLSearchParams('a=1&b=2&keep=x'), { a: ['x', '', 'y'], b: undefined, c: '' });
    expect(params.toString()).toBe('keep=x&a=x&a=y');
    expect(allValues(new URLSearchParams('a=&a=1'), 'a')).toEqual(['1']);
  });

  it('keeps only the global parameters of the current URL', () => {
    expect(hrefWith('/logs', { trace_id: 'abc', service: ['a', 'b'] }, '?from=now-6h&refresh=5s&q=old')).toBe(
      '/logs?from=now-6h&refresh=5s&trace_id=abc&service=a&service=b',
    );
    expect(hrefWith('/logs', { from: '1', to: '2' }, '?from=now-6h')).toBe('/logs?from=1&to=2');
  });
});
