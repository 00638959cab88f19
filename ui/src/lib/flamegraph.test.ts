import { describe, expect, it } from 'vitest';
import {
  callersOf,
  calleesOf,
  colorKey,
  diffChange,
  diffColor,
  fromDiff,
  hitTest,
  layoutFlame,
  matchedTotal,
  percent,
  rectPath,
  resolvePath,
  searchMatcher,
} from './flamegraph';
import type { FlameNode } from './flamegraph';
import type { DiffNode } from './profiles';

function node(name: string, self: number, children: FlameNode[] = [], other?: boolean): FlameNode {
  const total = self + children.reduce((sum, child) => sum + child.total, 0);
  return other ? { name, self, total, children, other } : { name, self, total, children };
}

// total 100: main (80) → [parse (30) → [alloc 10 self], work (50) → [parse 20, hash 20 + 10 self]], gc (20)
const tree = node('total', 0, [
  node('main', 0, [node('parse', 20, [node('alloc', 10)]), node('work', 10, [node('hash', 20), node('parse', 20)])]),
  node('gc', 20),
]);

describe('layoutFlame', () => {
  it('lays out children left to right by their share of the focused node', () => {
    const layout = layoutFlame([tree]);
    expect(layout.rows.map((row) => row.map((r) => r.node.name))).toEqual([
      ['total'],
      ['main', 'gc'],
      ['parse', 'work'],
      ['alloc', 'hash', 'parse'],
    ]);
    const [main, gc] = layout.rows[1];
    expect([main.x, main.width]).toEqual([0, 0.8]);
    expect(gc.x).toBeCloseTo(0.8);
    expect(gc.width).toBeCloseTo(0.2);
    const [, hash, parse] = layout.rows[3];
    expect(hash.x).toBeCloseTo(0.3);
    expect(parse.x).toBeCloseTo(0.5);
  });

  it('zooms: ancestors full width and dimmed, the focused node full width', () => {
    const path = resolvePath(tree, ['main', 'work']);
    expect(path.map((n) => n.name)).toEqual(['total', 'main', 'work']);
    const layout = layoutFlame(path);
    expect(layout.rows[0][0]).toMatchObject({ ancestor: true, width: 1 });
    expect(layout.rows[1][0]).toMatchObject({ ancestor: true, width: 1 });
    expect(layout.focus).toMatchObject({ depth: 2, x: 0, width: 1, ancestor: false });
    expect(layout.rows[3].map((r) => [r.node.name, r.width])).toEqual([
      ['hash', 0.4],
      ['parse', 0.4],
    ]);
  });

  it('leaves out nodes narrower than minWidth with their subtrees', () => {
    const layout = layoutFlame([tree], 0.25);
    expect(layout.rows[1].map((r) => r.node.name)).toEqual(['main']);
    expect(layout.rows[3]?.map((r) => r.node.name) ?? []).toEqual([]);
  });

  it('resolves a zoom path as far as it leads', () => {
    expect(resolvePath(tree, ['main', 'missing', 'x']).map((n) => n.name)).toEqual(['total', 'main']);
  });
});

describe('hitTest and rectPath', () => {
  it('finds the rect under a point and the path to it', () => {
    const layout = layoutFlame([tree]);
    const hit = hitTest(layout, 3, 0.45)!;
    expect(hit.node.name).toBe('hash');
    expect(rectPath(hit).map((n) => n.name)).toEqual(['total', 'main', 'work', 'hash']);
    expect(hitTest(layout, 3, 0.75)).toBeUndefined(); // work's self
    expect(hitTest(layout, 9, 0.5)).toBeUndefined();
    expect(hitTest(layout, 1, 0.99)!.node.name).toBe('gc');
  });
});

describe('search', () => {
  it('matches case-insensitively and counts nested matches once', () => {
    const matches = searchMatcher('PARSE')!;
    expect(matches('json.parse')).toBe(true);
    expect(searchMatcher('  ')).toBeUndefined();
    expect(matchedTotal(tree, matches)).toBe(50);
    expect(matchedTotal(tree, searchMatcher('a')!)).toBe(80); // main, not again its parse, alloc, hash
  });
});

describe('sandwich', () => {
  it('merges the callees of every occurrence', () => {
    const callees = calleesOf(tree, 'parse');
    expect(callees).toMatchObject({ name: 'parse', self: 40, total: 50 });
    expect(callees.children.map((c) => [c.name, c.total])).toEqual([['alloc', 10]]);
  });

  it('inverts the callers of every occurrence, outermost frame last', () => {
    const callers = callersOf(tree, 'parse');
    expect(callers.total).toBe(50);
    expect(callers.children.map((c) => [c.name, c.total])).toEqual([
      ['main', 30],
      ['work', 20],
    ]);
    const main = callers.children[0];
    expect(main.self).toBe(30); // main is the outermost frame of that path
    expect(callers.children[1].children.map((c) => [c.name, c.total, c.self])).toEqual([['main', 20, 20]]);
  });

  it('counts a recursive function once per stack', () => {
    const recursive = node('total', 0, [node('f', 0, [node('f', 5, [node('g', 5)])])]);
    expect(calleesOf(recursive, 'f').total).toBe(10);
    expect(callersOf(recursive, 'f').total).toBe(10);
  });

  it('is empty for a function that is not in the tree', () => {
    expect(callersOf(tree, 'nope').total).toBe(0);
  });
});

describe('diff', () => {
  const diff: DiffNode = {
    name: 'total',
    left_self: 0,
    left_total: 100,
    right_self: 0,
    right_total: 50,
    children: [
      { name: 'a', left_self: 50, left_total: 50, right_self: 40, right_total: 40, children: [] },
      { name: 'b', left_self: 50, left_total: 50, right_self: 0, right_total: 0, children: [] },
      { name: 'c', left_self: 0, left_total: 0, right_self: 10, right_total: 10, children: [] },
    ],
  };

  it('weighs both sides by their share', () => {
    const root = fromDiff(diff);
    expect(root.total).toBe(2);
    expect(root.children.map((c) => [c.name, c.total])).toEqual([
      ['a', 0.5 + 0.8],
      ['b', 0.5],
      ['c', 0.2],
    ]);
    expect(root.children[0].diff).toEqual({ leftSelf: 50, leftTotal: 50, rightSelf: 40, rightTotal: 40 });
  });

  it('measures change relative to the baseline share', () => {
    const [a, b, c] = fromDiff(diff).children;
    expect(diffChange(a.diff!, 100, 50)).toBeCloseTo(0.6);
    expect(diffChange(b.diff!, 100, 50)).toBe(-1);
    expect(diffChange(c.diff!, 100, 50)).toBe(Infinity);
    expect(diffColor(0)).toBe('rgb(190, 194, 201)');
    expect(diffColor(Infinity)).toBe('rgb(230, 80, 70)');
    expect(diffColor(-1)).toBe('rgb(70, 180, 110)');
  });
});

describe('colorKey', () => {
  it('groups frames by package, module, file, crate or class', () => {
    expect(colorKey('/srv/app/node_modules/@opentelemetry/api/build/x.js:12')).toBe('@opentelemetry/api');
    expect(colorKey('./node_modules/debug/src/common.js:debug:66')).toBe('debug');
    expect(colorKey('node:internal/timers:processTimers:504')).toBe('node');
    expect(colorKey('./profile.mjs:burnCpuHot:106')).toBe('./profile.mjs');
    expect(colorKey('/srv/app/src/services/payment.js:122')).toBe('/srv/app/src/services/payment.js');
    expect(colorKey('github.com/x/y/pkg')).toBe('github.com/x/y');
    expect(colorKey('tokio::runtime::park')).toBe('tokio');
    expect(colorKey('Readable.push')).toBe('Readable');
    expect(colorKey('emit')).toBe('emit');
  });
});

describe('percent', () => {
  it('formats shares', () => {
    expect(percent(1, 3)).toBe('33.3%');
    expect(percent(1, 300)).toBe('0.33%');
    expect(percent(0, 10)).toBe('0.0%');
    expect(percent(5, 0)).toBe('0%');
  });
});
