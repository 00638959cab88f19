// The flamegraph model, free of any DOM: trees as the server sends them (and
// diff trees brought to the same shape), the layout of a tree zoomed on one
// node, hit testing, search, colours, and the sandwich view (callers and
// callees of one function) derived from a tree.
import type { DiffNode } from './profiles';

/** Baseline (left) and comparison (right) values of a diff node. */
export interface DiffValues {
  leftSelf: number;
  leftTotal: number;
  rightSelf: number;
  rightTotal: number;
}

/**
 * A node as drawn. `total` decides the width and `self` the gap after the
 * children; a diff node also carries both sides' raw values.
 */
export interface FlameNode {
  name: string;
  self: number;
  total: number;
  other?: boolean;
  tags?: string[];
  children: FlameNode[];
  diff?: DiffValues;
}

/**
 * A diff tree with widths that weigh both sides alike: a node's width is its
 * share of the baseline plus its share of the comparison, so a short
 * comparison range is not drowned by a long baseline.
 */
export function fromDiff(root: DiffNode): FlameNode {
  const leftAll = root.left_total;
  const rightAll = root.right_total;
  const share = (left: number, right: number) =>
    (leftAll > 0 ? left / leftAll : 0) + (rightAll > 0 ? right / rightAll : 0);
  const convert = (node: DiffNode): FlameNode => ({
    name: node.name,
    self: share(node.left_self, node.right_self),
    total: share(node.left_total, node.right_total),
    other: node.other,
    children: node.children.map(convert),
    diff: {
      leftSelf: node.left_self,
      leftTotal: node.left_total,
      rightSelf: node.right_self,
      rightTotal: node.right_total,
    },
  });
  return convert(root);
}

// --- layout -----------------------------------------------------------------------------

/** One drawn node: position as fractions of the view's width, row by depth. */
export interface FlameRect {
  node: FlameNode;
  parent: FlameRect | null;
  depth: number;
  x: number;
  width: number;
  /** Above the focused node: drawn full width, dimmed; clicking it zooms out. */
  ancestor: boolean;
}

export interface FlameLayout {
  /** Rects by row (depth); within a row ordered by `x`. */
  rows: FlameRect[][];
  focus: FlameRect;
}

/**
 * Lays out the tree zoomed on the last node of `path` (root first): its
 * ancestors take one full-width row each, the focused node the full width
 * below them, and every descendant its share of the focused node's total.
 * Nodes narrower than `minWidth` (a fraction of the view) are left out with
 * their descendants.
 */
export function layoutFlame(path: FlameNode[], minWidth = 0): FlameLayout {
  const rows: FlameRect[][] = [];
  const push = (rect: FlameRect) => {
    (rows[rect.depth] ??= []).push(rect);
    return rect;
  };
  let parent: FlameRect | null = null;
  for (let depth = 0; depth < path.length - 1; depth++) {
    parent = push({ node: path[depth], parent, depth, x: 0, width: 1, ancestor: true });
  }
  const focusNode = path[path.length - 1];
  const focus = push({ node: focusNode, parent, depth: path.length - 1, x: 0, width: 1, ancestor: false });
  const scale = focusNode.total > 0 ? 1 / focusNode.total : 0;
  const pending: FlameRect[] = [focus];
  while (pending.length > 0) {
    const rect = pending.pop()!;
    let x = rect.x;
    for (const child of rect.node.children) {
      const width = child.total * scale;
      if (width >= minWidth && width > 0) {
        pending.push(push({ node: child, parent: rect, depth: rect.depth + 1, x, width, ancestor: false }));
      }
      x += width;
    }
  }
  // Children were pushed depth first: order every row by x for hit testing.
  for (const row of rows) row?.sort((a, b) => a.x - b.x);
  return { rows, focus };
}

/** The rect at fraction `x` of the view in row `depth`, if any. */
export function hitTest(layout: FlameLayout, depth: number, x: number): FlameRect | undefined {
  const row = layout.rows[depth];
  if (!row) return undefined;
  let low = 0;
  let high = row.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const rect = row[middle];
    if (x < rect.x) high = middle - 1;
    else if (x >= rect.x + rect.width) low = middle + 1;
    else return rect;
  }
  return undefined;
}

/** The nodes from the root to `rect`. */
export function rectPath(rect: FlameRect): FlameNode[] {
  const path: FlameNode[] = [];
  for (let at: FlameRect | null = rect; at; at = at.parent) path.push(at.node);
  return path.reverse();
}

/**
 * Follows `names` (below the root) down `root`, as far as they lead. Zoom is
 * kept as names so it survives a refresh that brings a new tree.
 */
export function resolvePath(root: FlameNode, names: string[]): FlameNode[] {
  const path = [root];
  let node = root;
  for (const name of names) {
    const next = node.children.find((child) => child.name === name);
    if (!next) break;
    path.push(next);
    node = next;
  }
  return path;
}

// --- search -----------------------------------------------------------------------------

/** Case-insensitive substring match; an empty search matches nothing. */
export function searchMatcher(search: string): ((name: string) => boolean) | undefined {
  const needle = search.trim().toLowerCase();
  if (!needle) return undefined;
  return (name) => name.toLowerCase().includes(needle);
}

/**
 * The value under nodes that `matches` (a match below a match is not counted
 * again), as a part of `root.total`.
 */
export function matchedTotal(root: FlameNode, matches: (name: string) => boolean): number {
  let total = 0;
  const pending = [...root.children];
  while (pending.length > 0) {
    const node = pending.pop()!;
    if (!node.other && matches(node.name)) total += node.total;
    else pending.push(...node.children);
  }
  return total;
}

/** The percentage `part / whole`: `12.3%`, `0.45%`. */
export function percent(part: number, whole: number): string {
  if (whole <= 0) return '0%';
  const value = (part / whole) * 100;
  return `${value >= 10 || value === 0 ? value.toFixed(1) : value.toPrecision(2)}%`;
}

// --- sandwich ---------------------------------------------------------------------------

function emptyNode(name: string, other?: boolean): FlameNode {
  return other ? { name, self: 0, total: 0, other, children: [] } : { name, self: 0, total: 0, children: [] };
}

function childNamed(node: FlameNode, name: string, other: boolean | undefined): FlameNode {
  let child = node.children.find((c) => c.name === name && !!c.other === !!other);
  if (!child) {
    child = emptyNode(name, other);
    node.children.push(child);
  }
  return child;
}

/** Adds `source`'s values and subtree into `target` (same name). */
function mergeInto(target: FlameNode, source: FlameNode): void {
  target.self += source.self;
  target.total += source.total;
  if (source.tags) target.tags = [...new Set([...(target.tags ?? []), ...source.tags])];
  for (const child of source.children) mergeInto(childNamed(target, child.name, child.other), child);
}

/** Outermost nodes named `name` (a match inside a match is not listed), with their paths. */
function occurrences(root: FlameNode, name: string): FlameNode[][] {
  const found: FlameNode[][] = [];
  const pending: FlameNode[][] = root.children.map((child) => [root, child]);
  while (pending.length > 0) {
    const path = pending.pop()!;
    const node = path[path.length - 1];
    if (!node.other && node.name === name) found.push(path);
    else for (const child of node.children) pending.push([...path, child]);
  }
  return found;
}

/** Everything `name` calls: its subtrees wherever it runs, merged into one tree rooted at it. */
export function calleesOf(root: FlameNode, name: string): FlameNode {
  const merged = emptyNode(name);
  for (const path of occurrences(root, name)) mergeInto(merged, path[path.length - 1]);
  return sortChildren(merged);
}

/**
 * Who calls `name`: an inverted tree rooted at it whose children are its
 * direct callers, their children the callers' callers, up to the outermost
 * frame (whose self is the value that reached `name` through that path).
 */
export function callersOf(root: FlameNode, name: string): FlameNode {
  const inverted = emptyNode(name);
  for (const path of occurrences(root, name)) {
    const value = path[path.length - 1].total;
    inverted.total += value;
    let at = inverted;
    // path[0] is the synthetic root: stop below it.
    for (let i = path.length - 2; i >= 1; i--) {
      at = childNamed(at, path[i].name, path[i].other);
      at.total += value;
    }
    at.self += value;
  }
  return sortChildren(inverted);
}

/** Children by name, `other` last, as the server orders them. */
function sortChildren(root: FlameNode): FlameNode {
  const pending = [root];
  while (pending.length > 0) {
    const node = pending.pop()!;
    node.children.sort((a, b) => Number(!!a.other) - Number(!!b.other) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    pending.push(...node.children);
  }
  return root;
}

// --- colours ----------------------------------------------------------------------------

/**
 * Frame colours: a hue per colour key at one saturation and lightness, light
 * enough that dark text reads on them in both themes.
 */
const FRAME_SATURATION = 62;
const FRAME_LIGHTNESS = 72;
export const OTHER_COLOR = '#c4c9d0';

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

/** The npm package of a frame under `node_modules` (`express`, `@scope/name`). */
export function npmPackage(name: string): string | undefined {
  return /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(name)?.[1];
}

/**
 * What frames are coloured by, so that one package or module shares a colour:
 * the npm package of a `node_modules` path, `node` for Node.js built-ins, the
 * source file of a `file:function:line` frame, the directory of a path, the
 * crate of `crate::fn`, the class of `Class.method`, else the name.
 */
export function colorKey(name: string): string {
  const pkg = npmPackage(name);
  if (pkg) return pkg;
  if (name.startsWith('node:')) return 'node';
  const file = /^(.+?\.(?:[cm]?[jt]sx?|py|rb|go|java|kt|rs|php|cs)):/.exec(name);
  if (file) return file[1];
  if (name.includes('/')) return name.slice(0, name.lastIndexOf('/'));
  const crate = /^<?([A-Za-z_]\w*)::/.exec(name);
  if (crate) return crate[1];
  const dot = name.indexOf('.');
  if (dot > 0) return name.slice(0, dot);
  return name;
}

export function frameColor(name: string): string {
  return `hsl(${hash(colorKey(name)) % 360}, ${FRAME_SATURATION}%, ${FRAME_LIGHTNESS}%)`;
}

const NEUTRAL = [190, 194, 201];
const WORSE = [230, 80, 70];
const BETTER = [70, 180, 110];

function mix(from: number[], to: number[], amount: number): string {
  const t = Math.max(0, Math.min(1, amount));
  const channel = (i: number) => Math.round(from[i] + (to[i] - from[i]) * t);
  return `rgb(${channel(0)}, ${channel(1)}, ${channel(2)})`;
}

/**
 * The change of a node's share from baseline to comparison, relative to the
 * baseline share: `+0.5` = 50 % more of the profile; `Infinity` for new nodes,
 * `-1` for nodes gone; 0 when the node is in neither.
 */
export function diffChange(values: DiffValues, leftAll: number, rightAll: number): number {
  const left = leftAll > 0 ? values.leftTotal / leftAll : 0;
  const right = rightAll > 0 ? values.rightTotal / rightAll : 0;
  if (left === 0) return right === 0 ? 0 : Infinity;
  return (right - left) / left;
}

/** Red for growth, green for shrinking, grey for no change; full colour at ±100 %. */
export function diffColor(change: number): string {
  if (change > 0) return mix(NEUTRAL, WORSE, change);
  return mix(NEUTRAL, BETTER, -change);
}
