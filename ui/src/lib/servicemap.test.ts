import { describe, expect, it } from 'vitest';
import type { PromVector } from './api';
import { buildEdges, errorPercent, layoutGraph, neighbourhood, nodeKinds, serviceMapModel } from './servicemap';

const vector = (metric: Record<string, string>, value: number): PromVector => ({
  metric,
  value: [1700000000, String(value)],
});

/** The system test's graph: user → frontend → inventory → PostgreSQL, frontend → legacy (uninstrumented). */
const system = {
  requests: [
    vector({ client: 'user', server: 'frontend', connection_type: 'virtual_node' }, 1),
    vector({ client: 'frontend', server: 'inventory' }, 0.5),
    vector({ client: 'inventory', server: '127.0.0.1', connection_type: 'database' }, 0.5),
    vector({ client: 'frontend', server: 'localhost', connection_type: 'virtual_node' }, 0.5),
  ],
  failed: [vector({ client: 'user', server: 'frontend', connection_type: 'virtual_node' }, 0.2)],
  latency: [vector({ client: 'frontend', server: 'inventory' }, 0.012)],
};

const names = (layers: { id: string }[][]) => layers.map((nodes) => nodes.map((n) => n.id));

describe('buildEdges', () => {
  it('reads rates, failures and latency per pair', () => {
    const edges = buildEdges(system);
    expect(edges).toHaveLength(4);
    expect(edges.find((e) => e.server === 'inventory')).toEqual({
      client: 'frontend',
      server: 'inventory',
      connectionType: '',
      rate: 0.5,
      failedRate: 0,
      p50: 0.012,
    });
    expect(errorPercent(edges.find((e) => e.client === 'user')!)).toBeCloseTo(20);
  });

  it('merges a pair seen under several connection types', () => {
    const edges = buildEdges({
      requests: [
        vector({ client: 'a', server: 'b' }, 1),
        vector({ client: 'a', server: 'b', connection_type: 'virtual_node' }, 2),
        vector({ client: 'a', server: 'c' }, Number.NaN),
      ],
      failed: [],
      latency: [],
    });
    expect(edges).toEqual([{ client: 'a', server: 'b', connectionType: 'virtual_node', rate: 3, failedRate: 0 }]);
  });
});

describe('nodeKinds', () => {
  it('tells services from databases, users and uninstrumented peers', () => {
    const kinds = nodeKinds(buildEdges(system), ['frontend', 'inventory']);
    expect(Object.fromEntries(kinds)).toEqual({
      user: 'user',
      frontend: 'service',
      inventory: 'service',
      '127.0.0.1': 'database',
      localhost: 'peer',
    });
  });

  it('counts both ends of a paired edge as instrumented without a service list', () => {
    const kinds = nodeKinds(buildEdges(system), []);
    expect(kinds.get('frontend')).toBe('service');
    expect(kinds.get('inventory')).toBe('service');
    expect(kinds.get('localhost')).toBe('peer');
  });
});

describe('layoutGraph', () => {
  it('puts each node one layer right of its deepest caller', () => {
    const edges = buildEdges(system);
    const layers = layoutGraph(
      edges.flatMap((e) => [e.client, e.server]),
      edges,
    );
    expect(names(layers)).toEqual([['user'], ['frontend'], ['inventory', 'localhost'], ['127.0.0.1']]);
    expect(layers[2][1]).toEqual({ id: 'localhost', layer: 2, index: 1 });
  });

  it('uses the longest call path, not the shortest', () => {
    const edges = [
      { client: 'a', server: 'b' },
      { client: 'b', server: 'c' },
      { client: 'a', server: 'c' },
    ];
    expect(names(layoutGraph(['a', 'b', 'c'], edges))).toEqual([['a'], ['b'], ['c']]);
  });

  it('breaks cycles and ignores self-calls', () => {
    const edges = [
      { client: 'gw', server: 'a' },
      { client: 'a', server: 'b' },
      { client: 'b', server: 'a' },
      { client: 'b', server: 'b' },
    ];
    expect(names(layoutGraph(['gw', 'a', 'b'], edges))).toEqual([['gw'], ['a'], ['b']]);
    // A cycle without an entry point still gets every node placed once.
    const ring = [
      { client: 'x', server: 'y' },
      { client: 'y', server: 'z' },
      { client: 'z', server: 'x' },
    ];
    expect(names(layoutGraph(['x', 'y', 'z'], ring)).flat().sort()).toEqual(['x', 'y', 'z']);
  });

  it('orders rows to follow their callers', () => {
    const edges = [
      { client: 'a', server: 'z1' },
      { client: 'b', server: 'y1' },
    ];
    // Alphabetically y1 would come first; under their callers z1 goes first.
    expect(names(layoutGraph(['a', 'b', 'y1', 'z1'], edges))).toEqual([
      ['a', 'b'],
      ['z1', 'y1'],
    ]);
  });
});

describe('serviceMapModel', () => {
  it('lays out the focused service with its callers and callees only', () => {
    const model = serviceMapModel(system, ['frontend', 'inventory'], 'inventory');
    expect(names(model.layers)).toEqual([['frontend'], ['inventory'], ['127.0.0.1']]);
    expect(model.layers[2][0].kind).toBe('database');
    expect(neighbourhood(model.edges, undefined)).toHaveLength(2);
  });
});

describe('layoutGraph on a mesh', () => {
  it('keeps services that all call each other in one layer after their callers', () => {
    const services = ['a', 'b', 'c', 'd'];
    const edges = [
      ...services.map((s) => ({ client: 'user', server: s })),
      ...services.flatMap((x) => services.filter((y) => y !== x).map((y) => ({ client: x, server: y }))),
      { client: 'c', server: 'db' },
    ];
    const layers = names(layoutGraph(['user', 'db', ...services], edges)).map((l) => [...l].sort());
    expect(layers).toEqual([['user'], ['a', 'b', 'c', 'd'], ['db']]);
  });
});
