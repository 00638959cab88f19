import { afterEach, describe, expect, it } from 'vitest';
import { href, navigate, setParams } from './url';

afterEach(() => window.history.replaceState(null, '', '/'));

describe('href', () => {
  it('keeps the global time range and refresh, not page state', () => {
    window.history.replaceState(null, '', '/logs?from=now-6h&refresh=15s&q=error');
    expect(href('/traces')).toBe('/traces?from=now-6h&refresh=15s');
    expect(href('/traces', { service: 'api', q: '' })).toBe('/traces?from=now-6h&refresh=15s&service=api');
  });

  it('is the bare path without parameters', () => {
    expect(href('/sql')).toBe('/sql');
  });
});

describe('setParams and navigate', () => {
  it('sets and removes parameters of the current page and notifies', () => {
    window.history.replaceState(null, '', '/explore?q0=up&from=now-1h');
    let notified = 0;
    const listener = () => (notified += 1);
    window.addEventListener('vispyr:navigate', listener);
    setParams({ q0: 'rate(x[5m])', from: undefined, q1: 'y' });
    window.removeEventListener('vispyr:navigate', listener);
    const url = new URL(window.location.href);
    expect(url.pathname).toBe('/explore');
    expect(url.searchParams.get('q0')).toBe('rate(x[5m])');
    expect(url.searchParams.get('q1')).toBe('y');
    expect(url.searchParams.has('from')).toBe(false);
    expect(notified).toBe(1);
  });

  it('pushes a history entry unless asked to replace', () => {
    const before = window.history.length;
    navigate('/profiles?service=a');
    expect(window.history.length).toBe(before + 1);
    navigate('/profiles?service=b', true);
    expect(window.history.length).toBe(before + 1);
    expect(window.location.search).toBe('?service=b');
  });
});
