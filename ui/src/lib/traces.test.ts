import { describe, expect, it } from 'vitest';
import {
  buildTree,
  criticalPath,
  foldFromParams,
  foldValues,
  isCollapsed,
  mergeIntervals,
  parseTraceSort,
  serviceColorIndex,
  sortTraces,
  timeTicks,
  toggleFold,
  traceQueryFromParams,
  traceQueryValues,
  traceSortText,
  traceWindow,
  waterfallRows,
  type Span,
} from './traces';

/** A span `[start, end)` (in ns) under `parent`. */
function span(id: string, parent: string, start: number, end: number, extra: Partial<Span> = {}): Span {
  return {
    trace_id: 't',
    span_id: id,
    parent_span_id: parent,
    name: id,
    service_name: 'svc',
    kind: 'internal',
    status: 'unset',
    status_message: '',
    start_ns: start,
    end_ns: end,
    duration_ns: end - start,
    depth: 0,
    attributes: {},
    resource: {},
    scope_name: '',
    scope_version: '',
    events: [],
    links: [],
    log_count: 0,
    ...extra,
  };
}

const order = (tree: ReturnType<typeof buildTree>) => tree.nodes.map((n) => `${n.span.span_id}@${n.depth}`);

describe('buildTree', () => {
  it('builds the tree from unordered spans, depth first by start time', () => {
    const tree = buildTree('t', [
      span('c2', 'root', 50, 90),
      span('g', 'c1', 20, 30),
      span('root', '', 0, 100),
      span('c1', 'root', 10, 40),
      span('g0', 'c1', 15, 18),
    ]);
    expect(order(tree)).toEqual(['root@0', 'c1@1', 'g0@2', 'g@2', 'c2@1']);
    expect(tree.roots.map((r) => r.span.span_id)).toEqual(['root']);
    const c1 = tree.byId.get('c1')!;
    expect(c1.parent?.span.span_id).toBe('root');
    expect(c1.index).toBe(1);
    expect(c1.end).toBe(4); // c1, g0, g
    expect(tree.byId.get('root')!.end).toBe(5);
    expect([tree.startNs, tree.endNs, tree.durationNs]).toEqual([0, 100, 100]);
  });

  it('makes spans whose parent is missing roots, marked as orphans', () => {
    const tree = buildTree('t', [
      span('late', 'lost', 30, 60),
      span('root', '', 0, 100),
      span('kid', 'late', 35, 40),
    ]);
    expect(order(tree)).toEqual(['root@0', 'late@0', 'kid@1']);
    expect(tree.byId.get('late')!.orphan).toBe(true);
    expect(tree.byId.get('root')!.orphan).toBe(false);
    expect(tree.byId.get('kid')!.orphan).toBe(false);
  });

  it('keeps the first of duplicate span ids and breaks parent cycles', () => {
    const tree = buildTree('t', [
      span('a', 'b', 0, 10),
      span('b', 'a', 1, 5),
      span('a', 'b', 0, 10),
      span('self', 'self', 2, 3),
    ]);
    expect(tree.nodes).toHaveLength(3);
    expect(order(tree)).toEqual(['self@0', 'a@0', 'b@1']);
    expect(tree.roots.every((r) => r.orphan)).toBe(true);
  });

  it('counts services and errors', () => {
    const tree = buildTree('t', [
      span('r', '', 0, 10, { service_name: 'web' }),
      span('x', 'r', 1, 2, { service_name: 'db', status: 'error' }),
      span('y', 'r', 2, 3, { service_name: 'web', status: 'error' }),
    ]);
    expect(tree.services).toEqual(['db', 'web']);
    expect(tree.errorCount).toBe(2);
  });

  it('is empty for no spans', () => {
    const tree = buildTree('t', []);
    expect([tree.nodes.length, tree.durationNs]).toEqual([0, 0]);
  });
});

describe('self time', () => {
  it('subtracts the union of children, clipped to the span', () => {
    const tree = buildTree('t', [
      span('root', '', 0, 100),
      // Overlapping children count once: 10..50.
      span('a', 'root', 10, 40),
      span('b', 'root', 30, 50),
      // Runs past its parent's end: only 90..100 counts.
      span('c', 'root', 90, 120),
    ]);
    const root = tree.byId.get('root')!;
    expect(root.self).toEqual([
      [0, 10],
      [50, 90],
    ]);
    expect(root.selfNs).toBe(50);
    expect(tree.byId.get('a')!.selfNs).toBe(30);
  });

  it('is zero when children cover the span', () => {
    const tree = buildTree('t', [span('r', '', 0, 10), span('k', 'r', 0, 10)]);
    expect(tree.byId.get('r')!.selfNs).toBe(0);
  });

  it('merges intervals', () => {
    expect(
      mergeIntervals([
        [5, 8],
        [0, 2],
        [1, 3],
        [8, 9],
        [4, 4],
      ]),
    ).toEqual([
      [0, 3],
      [5, 9],
    ]);
  });
});

describe('criticalPath', () => {
  it('follows the last finishing child back in time', () => {
    const tree = buildTree('t', [
      span('root', '', 0, 100),
      span('a', 'root', 10, 40),
      span('b', 'root', 30, 90),
      span('b1', 'b', 35, 60),
      // Runs inside b1's time: b never waited on it alone.
      span('b2', 'b', 36, 50),
      // Starts after the cursor has moved past it: not on the path.
      span('late', 'root', 95, 99),
    ]);
    const path = criticalPath(tree);
    expect(path.get('late')).toEqual([[95, 99]]);
    expect(path.get('root')).toEqual([
      [0, 10],
      [90, 95],
      [99, 100],
    ]);
    expect(path.get('b')).toEqual([
      [30, 35],
      [60, 90],
    ]);
    expect(path.get('b1')).toEqual([[35, 60]]);
    expect(path.get('a')).toEqual([[10, 30]]);
    expect(path.has('b2')).toBe(false);
  });

  it('clips children that outlive their parent and ignores ones before it', () => {
    const tree = buildTree('t', [
      span('root', '', 10, 50),
      span('async', 'root', 40, 80),
      span('early', 'root', 0, 5),
    ]);
    const path = criticalPath(tree);
    expect(path.get('async')).toEqual([[40, 50]]);
    expect(path.get('root')).toEqual([[10, 40]]);
    expect(path.has('early')).toBe(false);
  });

  it('covers every root', () => {
    const tree = buildTree('t', [span('r', '', 0, 10), span('o', 'gone', 20, 30)]);
    expect([...criticalPath(tree).keys()].sort()).toEqual(['o', 'r']);
  });
});

describe('collapsing', () => {
  const tree = buildTree('t', [
    span('r', '', 0, 100),
    span('a', 'r', 0, 50),
    span('a1', 'a', 0, 10),
    span('a2', 'a', 10, 20),
    span('b', 'r', 50, 100),
  ]);
  const ids = (rows: ReturnType<typeof waterfallRows>) => rows.map((r) => r.node.span.span_id);

  it('shows everything by default, with offsets and durations', () => {
    const rows = waterfallRows(tree, { toggled: new Set() });
    expect(ids(rows)).toEqual(['r', 'a', 'a1', 'a2', 'b']);
    expect(rows.map((r) => [r.offsetNs, r.durationNs])).toEqual([
      [0, 100],
      [0, 50],
      [0, 10],
      [10, 10],
      [50, 50],
    ]);
  });

  it('hides the subtree of a toggled span', () => {
    const fold = toggleFold({ toggled: new Set() }, tree.byId.get('a')!);
    const rows = waterfallRows(tree, fold);
    expect(ids(rows)).toEqual(['r', 'a', 'b']);
    expect(rows[1]).toMatchObject({ collapsed: true, hidden: 2 });
    // Toggling again expands it.
    expect(ids(waterfallRows(tree, toggleFold(fold, tree.byId.get('a')!)))).toHaveLength(5);
  });

  it('collapses by depth, with toggles flipping the default', () => {
    expect(ids(waterfallRows(tree, { depth: 0, toggled: new Set() }))).toEqual(['r']);
    expect(ids(waterfallRows(tree, { depth: 1, toggled: new Set() }))).toEqual(['r', 'a', 'b']);
    expect(ids(waterfallRows(tree, { depth: 1, toggled: new Set(['a']) }))).toEqual(['r', 'a', 'a1', 'a2', 'b']);
    // Leaves are never collapsed.
    expect(isCollapsed(tree.byId.get('b')!, { depth: 0, toggled: new Set() })).toBe(false);
  });

  it('reveals the ancestors of a selected span', () => {
    const rows = waterfallRows(tree, { depth: 0, toggled: new Set() }, tree.byId.get('a2'));
    expect(ids(rows)).toEqual(['r', 'a', 'a1', 'a2', 'b']);
  });

  it('round-trips through the URL', () => {
    const fold = { depth: 2, toggled: new Set(['a', 'b']) };
    expect(foldValues(fold)).toEqual({ fold: '2', toggle: 'a,b' });
    expect(foldFromParams(new URLSearchParams('fold=2&toggle=a,b'))).toEqual(fold);
    expect(foldFromParams(new URLSearchParams('fold=x'))).toEqual({ depth: undefined, toggled: new Set() });
    expect(foldValues({ toggled: new Set() })).toEqual({ fold: undefined, toggle: '' });
  });

  it('handles 5,000 spans quickly', () => {
    const spans = [span('s0', '', 0, 1e9)];
    for (let i = 1; i < 5000; i++) spans.push(span(`s${i}`, `s${Math.floor((i - 1) / 3)}`, i * 1000, i * 1000 + 5e5));
    const started = performance.now();
    const big = buildTree('t', spans);
    criticalPath(big);
    waterfallRows(big, { toggled: new Set() });
    expect(big.nodes).toHaveLength(5000);
    expect(performance.now() - started).toBeLessThan(500);
  });
});

describe('search query and URL', () => {
  it('round-trips through URL parameters', () => {
    const query = {
      service: 'web',
      span_name: 'GET /',
      min_duration: '100ms',
      max_duration: '2s',
      status: 'error' as const,
      attr: ['http.route=/a=b', 'db.system=postgresql'],
      q: '{ duration > 1s }',
      limit: 50,
    };
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(traceQueryValues(query))) {
      for (const v of Array.isArray(value) ? value : [value]) if (v) params.append(name, v);
    }
    expect(params.getAll('attr')).toEqual(['http.route=/a=b', 'db.system=postgresql']);
    expect(traceQueryFromParams(params)).toEqual(query);
  });

  it('drops invalid status and limit, and the default limit', () => {
    const parsed = traceQueryFromParams(new URLSearchParams('status=bad&limit=5000'));
    expect([parsed.status, parsed.limit]).toEqual([undefined, undefined]);
    expect(traceQueryValues({ limit: 20, attr: ['', 'a=1'] })).toMatchObject({ limit: undefined, attr: ['a=1'] });
  });
});

describe('helpers', () => {
  it('picks round ticks', () => {
    expect(timeTicks(1000, 5)).toEqual([0, 200, 400, 600, 800, 1000]);
    expect(timeTicks(2_300_000, 5)).toEqual([0, 500_000, 1_000_000, 1_500_000, 2_000_000]);
    expect(timeTicks(0)).toEqual([0]);
  });

  it('gives a service the same colour every time', () => {
    expect(serviceColorIndex('frontend')).toBe(serviceColorIndex('frontend'));
    expect(serviceColorIndex('frontend')).not.toBe(serviceColorIndex('inventory'));
  });

  it('pads a trace window', () => {
    expect(traceWindow(1_700_000_000_000_000_000, 1_700_000_001_000_000_000, 1000)).toEqual({
      from: '1699999999000',
      to: '1700000002000',
    });
  });
});

describe('sorting results', () => {
  const summary = (id: string, start: number, duration: number, root = 'svc') =>
    ({ trace_id: id, root_service: root, root_name: 'GET', start_ns: start, duration_ns: duration, span_count: 1, error_count: 0 }) as never;

  it('parses and prints the URL form', () => {
    expect(parseTraceSort('-duration')).toEqual({ key: 'duration', desc: true });
    expect(parseTraceSort('spans')).toEqual({ key: 'spans', desc: false });
    expect(parseTraceSort('bogus')).toEqual({ key: 'start', desc: true });
    expect(traceSortText({ key: 'errors', desc: true })).toBe('-errors');
  });

  it('sorts by the key in either direction', () => {
    const traces = [summary('a', 1, 30), summary('b', 2, 10, 'api'), summary('c', 3, 20)];
    expect(sortTraces(traces, { key: 'duration', desc: true }).map((t) => t.trace_id)).toEqual(['a', 'c', 'b']);
    expect(sortTraces(traces, { key: 'start', desc: false }).map((t) => t.trace_id)).toEqual(['a', 'b', 'c']);
    expect(sortTraces(traces, { key: 'root', desc: false })[0].trace_id).toBe('b');
  });
});
