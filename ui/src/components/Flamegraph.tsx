// A flamegraph on a canvas: the root on top (or at the bottom when inverted,
// for callers), widths by total. Click a frame to zoom on it and an ancestor
// (or the breadcrumb) to zoom out; hover for values; right-click for the
// frame's actions. Search and a selected name dim every other frame. Diff
// trees are coloured by how much a frame's share changed.
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { CSSProperties, ReactNode } from 'react';
import { useQuery } from '../lib/api';
import {
  OTHER_COLOR,
  diffChange,
  diffColor,
  frameColor,
  hitTest,
  layoutFlame,
  percent,
  rectPath,
  resolvePath,
  searchMatcher,
} from '../lib/flamegraph';
import type { FlameLayout, FlameNode, FlameRect } from '../lib/flamegraph';
import { fetchFlamegraph, fetchTable, formatSample, formatSelector } from '../lib/profiles';
import type { TagDef } from '../lib/profiles';
import { href, onLinkClick } from '../lib/url';
import { BesideTable, FunctionTable } from './FunctionTable';
import { QueryView } from './States';
import './flamegraph.css';

export const ROW_HEIGHT = 20;
/** Canvases taller than this fail in some browsers; deeper rows are cut. */
const MAX_CANVAS_PX = 16_000;
const FONT = '11.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace';

/** An entry of the right-click menu. */
export interface FrameAction {
  label: string;
  run: () => void;
}

export interface FlamegraphProps {
  root: FlameNode;
  /** Formats a value of the tree (a diff tree: of either side). */
  format: (value: number) => string;
  /** Tag colours (tree answers list them). */
  tags?: { name: string; color?: string }[];
  /** Frames whose name contains this (case-insensitive) stay coloured; the rest dim. */
  search?: string;
  /** A name picked elsewhere (the table): frames with exactly this name stand out. */
  selected?: string;
  /** Draw the root at the bottom (callers of a function). */
  inverted?: boolean;
  /** Extra right-click actions for a frame (`path` runs from the root to it). */
  actions?: (node: FlameNode, path: FlameNode[]) => FrameAction[];
  /** Shown at the right of the breadcrumb bar. */
  toolbar?: ReactNode;
  testId?: string;
}

/** Changes when the theme does, so canvases repaint with the new colours. */
function useTheme(): string | undefined {
  const [theme, setTheme] = useState(() => document.documentElement.dataset.theme);
  useEffect(() => {
    const observer = new MutationObserver(() => setTheme(document.documentElement.dataset.theme));
    observer.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    return () => observer.disconnect();
  }, []);
  return theme;
}

function cssVar(name: string, fallback: string): string {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

function tagColor(node: FlameNode, tags: Map<string, string | undefined>): string | undefined {
  for (const tag of node.tags ?? []) {
    const color = tags.get(tag);
    if (color) return color;
  }
  return undefined;
}

/** Fits `text` into `chars` characters: paths keep their end, names their start. */
export function fitLabel(text: string, chars: number): string {
  if (text.length <= chars) return text;
  if (chars < 2) return '';
  return text.includes('/') ? `…${text.slice(text.length - chars + 1)}` : `${text.slice(0, chars - 1)}…`;
}

function formatChange(change: number): string {
  if (change === Infinity) return 'new';
  if (change === -1) return 'gone';
  const text = (change * 100).toFixed(1);
  if (Number(text) === 0) return 'no change';
  return `${change > 0 ? '+' : ''}${text}%`;
}

function Tooltip({
  node,
  root,
  format,
  x,
  y,
  width,
}: {
  node: FlameNode;
  root: FlameNode;
  format: (value: number) => string;
  x: number;
  y: number;
  width: number;
}) {
  const left = Math.min(x + 14, Math.max(0, width - 360));
  let body: ReactNode;
  if (node.diff && root.diff) {
    const { leftTotal, leftSelf, rightTotal, rightSelf } = node.diff;
    const leftAll = root.diff.leftTotal;
    const rightAll = root.diff.rightTotal;
    const change = diffChange(node.diff, leftAll, rightAll);
    body = (
      <table>
        <thead>
          <tr>
            <th />
            <th>Baseline</th>
            <th>Comparison</th>
          </tr>
        </thead>
        <tbody>
          <tr>
            <th>Total</th>
            <td>
              {format(leftTotal)} ({percent(leftTotal, leftAll)})
            </td>
            <td>
              {format(rightTotal)} ({percent(rightTotal, rightAll)})
            </td>
          </tr>
          <tr>
            <th>Self</th>
            <td>
              {format(leftSelf)} ({percent(leftSelf, leftAll)})
            </td>
            <td>
              {format(rightSelf)} ({percent(rightSelf, rightAll)})
            </td>
          </tr>
          <tr>
            <th>Change</th>
            <td colSpan={2} className={change > 0 ? 'worse' : change < 0 ? 'better' : ''}>
              {formatChange(change)} in share of the profile
            </td>
          </tr>
        </tbody>
      </table>
    );
  } else {
    body = (
      <table>
        <tbody>
          <tr>
            <th>Total</th>
            <td>
              {format(node.total)} ({percent(node.total, root.total)})
            </td>
          </tr>
          <tr>
            <th>Self</th>
            <td>
              {format(node.self)} ({percent(node.self, root.total)})
            </td>
          </tr>
        </tbody>
      </table>
    );
  }
  return (
    <div className="flame-tooltip" style={{ left, top: y + 16 }} role="tooltip" data-testid="flame-tooltip">
      <div className="flame-tooltip-name">{node.other ? 'other (frames pruned from this view)' : node.name}</div>
      {body}
      {node.tags && node.tags.length > 0 && <div className="flame-tooltip-tags">tags: {node.tags.join(', ')}</div>}
    </div>
  );
}

export function Flamegraph({
  root,
  format,
  tags,
  search = '',
  selected,
  inverted = false,
  actions,
  toolbar,
  testId = 'flamegraph',
}: FlamegraphProps) {
  const container = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const [width, setWidth] = useState(0);
  // Zoom as names below the root, so a refreshed tree keeps it.
  const [focusNames, setFocusNames] = useState<string[]>([]);
  // The hovered frame (repaints) and the pointer (moves the tooltip only).
  const [hovered, setHovered] = useState<FlameRect | null>(null);
  const [pointer, setPointer] = useState({ x: 0, y: 0 });
  const [menu, setMenu] = useState<{ rect: FlameRect; x: number; y: number } | null>(null);
  const theme = useTheme();

  useLayoutEffect(() => {
    const element = container.current;
    if (!element) return;
    setWidth(element.clientWidth);
    const observer = new ResizeObserver(() => setWidth(element.clientWidth));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  const path = useMemo(() => resolvePath(root, focusNames), [root, focusNames]);
  // Layout and paint times, published on the canvas for the benchmark (BENCHMARKS.md).
  const layoutMs = useRef(0);
  const layout: FlameLayout = useMemo(() => {
    const started = performance.now();
    const result = layoutFlame(path, width > 0 ? 0.5 / width : 0);
    layoutMs.current = performance.now() - started;
    return result;
  }, [path, width]);
  const maxRows = Math.floor(MAX_CANVAS_PX / ROW_HEIGHT);
  const rowCount = Math.min(layout.rows.length, maxRows);
  const height = rowCount * ROW_HEIGHT;
  const matches = useMemo(() => searchMatcher(search), [search]);
  const tagColors = useMemo(() => new Map((tags ?? []).map((t: TagDef) => [t.name, t.color])), [tags]);

  // Paint.
  useEffect(() => {
    const element = canvas.current;
    if (!element || width === 0) return;
    const started = performance.now();
    const ratio = window.devicePixelRatio || 1;
    element.width = Math.round(width * ratio);
    element.height = Math.round(height * ratio);
    element.style.width = `${width}px`;
    element.style.height = `${height}px`;
    const context = element.getContext('2d');
    if (!context) return; // jsdom
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    context.font = FONT;
    context.textBaseline = 'middle';
    const charWidth = context.measureText('m').width || 7;
    const dimmed = cssVar('--flame-dimmed', '#d5d9df');
    const dimmedText = cssVar('--fg-muted', '#666');
    const outline = cssVar('--fg', '#111');
    const leftAll = root.diff?.leftTotal ?? 0;
    const rightAll = root.diff?.rightTotal ?? 0;
    const filtering = matches !== undefined || selected !== undefined;
    // Rectangles are batched into one path per colour (and labels per text
    // colour): switching fillStyle per rectangle dominated the paint time of
    // large trees.
    const fills = new Map<string, number[]>();
    const faded = new Map<string, number[]>();
    const labels: { x: number; y: number; text: string; dim: boolean }[] = [];
    for (let depth = 0; depth < rowCount; depth++) {
      const y = (inverted ? rowCount - 1 - depth : depth) * ROW_HEIGHT;
      for (const rect of layout.rows[depth] ?? []) {
        const node = rect.node;
        const px = rect.x * width;
        const pw = rect.width * width;
        const highlighted =
          !node.other && ((matches !== undefined && matches(node.name)) || (selected !== undefined && node.name === selected));
        // The server's synthetic root; a sandwich's root is a real function.
        const isRoot = rect.depth === 0 && node.name === 'total';
        let fill: string;
        if (filtering && !highlighted && !isRoot) fill = dimmed;
        else if (node.other) fill = OTHER_COLOR;
        else if (node.diff) fill = diffColor(diffChange(node.diff, leftAll, rightAll));
        else fill = tagColor(node, tagColors) ?? (isRoot ? OTHER_COLOR : frameColor(node.name));
        // Zoom ancestors are drawn faded, in batches of their own.
        const batches = rect.ancestor ? faded : fills;
        let batch = batches.get(fill);
        if (!batch) batches.set(fill, (batch = []));
        batch.push(px + 0.5, y + 0.5, Math.max(pw - 1, 0.5));
        if (pw > 3 * charWidth) {
          const text = fitLabel(node.name, Math.floor((pw - 8) / charWidth));
          labels.push({ x: px + 4, y: y + ROW_HEIGHT / 2 + 0.5, text, dim: filtering && !highlighted && !isRoot });
        }
      }
    }
    for (const [batches, alpha] of [
      [fills, 1],
      [faded, 0.55],
    ] as const) {
      context.globalAlpha = alpha;
      for (const [fill, batch] of batches) {
        context.fillStyle = fill;
        context.beginPath();
        for (let i = 0; i < batch.length; i += 3) context.rect(batch[i], batch[i + 1], batch[i + 2], ROW_HEIGHT - 1);
        context.fill();
      }
    }
    context.globalAlpha = 1;
    for (const dim of [false, true]) {
      context.fillStyle = dim ? dimmedText : '#1b1f24';
      for (const label of labels) if (label.dim === dim) context.fillText(label.text, label.x, label.y);
    }
    context.globalAlpha = 1;
    if (hovered && hovered.depth < rowCount) {
      const y = (inverted ? rowCount - 1 - hovered.depth : hovered.depth) * ROW_HEIGHT;
      context.strokeStyle = outline;
      context.lineWidth = 1.5;
      context.strokeRect(hovered.x * width + 1, y + 1, Math.max(hovered.width * width - 2, 1), ROW_HEIGHT - 2);
    }
    const paintMs = performance.now() - started;
    element.dataset.layoutMs = layoutMs.current.toFixed(1);
    element.dataset.paintMs = paintMs.toFixed(1);
    element.dataset.renderMs = (layoutMs.current + paintMs).toFixed(1);
  }, [layout, width, height, rowCount, matches, selected, tagColors, inverted, hovered, root, theme]);

  // A new tree (a refresh) has new frames: the hovered one and the menu's are gone.
  useEffect(() => {
    setHovered(null);
    setMenu(null);
  }, [root]);

  useEffect(() => {
    if (!menu) return;
    const close = (event: Event) => {
      if (event instanceof KeyboardEvent && event.key !== 'Escape') return;
      setMenu(null);
    };
    window.addEventListener('keydown', close);
    window.addEventListener('click', close);
    window.addEventListener('scroll', close, true);
    return () => {
      window.removeEventListener('keydown', close);
      window.removeEventListener('click', close);
      window.removeEventListener('scroll', close, true);
    };
  }, [menu]);

  const rectAt = (event: React.MouseEvent): { rect: FlameRect; x: number; y: number } | null => {
    const element = canvas.current;
    if (!element || width === 0) return null;
    const box = element.getBoundingClientRect();
    const x = event.clientX - box.left;
    const y = event.clientY - box.top;
    const row = Math.floor(y / ROW_HEIGHT);
    const depth = inverted ? rowCount - 1 - row : row;
    if (depth < 0 || depth >= rowCount) return null;
    const rect = hitTest(layout, depth, x / width);
    return rect ? { rect, x, y } : null;
  };

  const zoomTo = (rect: FlameRect) => {
    setFocusNames(rectPath(rect).slice(1).map((node) => node.name));
    setHovered(null);
  };

  const menuActions = (rect: FlameRect): FrameAction[] => {
    const nodePath = rectPath(rect);
    const own: FrameAction[] = [
      { label: 'Zoom to this frame', run: () => zoomTo(rect) },
      { label: 'Copy name', run: () => void navigator.clipboard?.writeText(rect.node.name) },
    ];
    if (focusNames.length > 0) own.push({ label: 'Reset zoom', run: () => setFocusNames([]) });
    const extra = rect.node.other || rect.depth === 0 ? [] : (actions?.(rect.node, nodePath) ?? []);
    return [...own, ...extra];
  };

  return (
    <div className="flamegraph" data-testid={testId}>
      <div className="flame-bar">
        <nav className="flame-crumbs" aria-label="Zoom path">
          {path.length === 1 && <span className="muted flame-hint">Click a frame to zoom in, right-click for more</span>}
          {path.length > 1 && path.map((node, index) => (
            <span key={index}>
              {index > 0 && <span className="muted"> › </span>}
              {index < path.length - 1 ? (
                <button className="link" onClick={() => setFocusNames(focusNames.slice(0, index))}>
                  {fitLabel(node.name, 40)}
                </button>
              ) : (
                <strong title={node.name}>{fitLabel(node.name, 60)}</strong>
              )}
            </span>
          ))}
          {focusNames.length > 0 && (
            <button className="flame-reset" onClick={() => setFocusNames([])} data-testid="flame-reset">
              Reset zoom
            </button>
          )}
        </nav>
        {toolbar && <div className="flame-toolbar">{toolbar}</div>}
      </div>
      <div className="flame-canvas-box" ref={container}>
        <canvas
          ref={canvas}
          role="img"
          aria-label={`Flamegraph of ${root.name}: ${layout.rows.length} levels`}
          data-testid={`${testId}-canvas`}
          onMouseMove={(event) => {
            const found = rectAt(event);
            setHovered(found?.rect ?? null);
            if (found) setPointer({ x: found.x, y: found.y });
          }}
          onMouseLeave={() => setHovered(null)}
          onClick={(event) => {
            const found = rectAt(event);
            if (found) zoomTo(found.rect);
          }}
          onContextMenu={(event) => {
            const found = rectAt(event);
            if (!found) return;
            event.preventDefault();
            setHovered(null);
            setMenu(found);
          }}
          style={{ cursor: hovered ? 'pointer' : 'default' }}
        />
        {rowCount < layout.rows.length && (
          <div className="muted flame-cut">
            {layout.rows.length - rowCount} deeper levels are not drawn: zoom in on a frame to see them.
          </div>
        )}
        {hovered && !menu && (
          <Tooltip node={hovered.node} root={root} format={format} x={pointer.x} y={pointer.y} width={width} />
        )}
        {menu && (
          <ul
            className="flame-menu"
            style={{ left: Math.min(menu.x, Math.max(0, width - 260)), top: menu.y }}
            role="menu"
            data-testid="flame-menu"
            onClick={(event) => event.stopPropagation()}
          >
            <li className="flame-menu-title" title={menu.rect.node.name}>
              {fitLabel(menu.rect.node.name, 40)}
            </li>
            {menuActions(menu.rect).map((action) => (
              <li key={action.label}>
                <button
                  role="menuitem"
                  onClick={() => {
                    setMenu(null);
                    action.run();
                  }}
                >
                  {action.label}
                </button>
              </li>
            ))}
          </ul>
        )}
      </div>
    </div>
  );
}

/**
 * The flamegraph and function table of one service's profile type over a
 * range (epoch ms), fetched here through the saved view's rules: what other
 * pages embed, such as the overview's CPU profile. "Open in Profiles" goes on
 * to the Profiles page with the same selection.
 */
export function ProfileFlamegraph({
  service,
  profileType,
  from,
  to,
  height = 480,
}: {
  service: string;
  profileType: string;
  from: number;
  to: number;
  /** Most height (px) the table and the flamegraph take before they scroll. */
  height?: number;
}) {
  const query = formatSelector({ type: profileType, matchers: [{ name: 'service_name', op: '=', value: service }] });
  const selection = useMemo(() => ({ query, from, until: to }), [query, from, to]);
  const flame = useQuery((signal) => fetchFlamegraph(selection, {}, signal), [selection]);
  const table = useQuery((signal) => fetchTable(selection, {}, signal), [selection]);
  const [selected, setSelected] = useState<string>();
  const format = useCallback((value: number) => formatSample(value, profileType), [profileType]);
  const link = href('/profiles', { query });
  return (
    <div className="profile-embed" style={{ '--embed-height': `${height}px` } as CSSProperties} data-testid="profile-flamegraph">
      <QueryView
        query={flame}
        isEmpty={(answer) => answer.flamegraph.summary.total === 0}
        empty={`No ${profileType} samples of ${service} in this time range.`}
      >
        {(answer) => (
          <BesideTable
            table={
              <QueryView query={table}>
                {(data) => (
                  <FunctionTable
                    rows={data.rows}
                    total={data.total}
                    format={format}
                    search=""
                    selected={selected}
                    onSelect={setSelected}
                  />
                )}
              </QueryView>
            }
          >
            <Flamegraph
              root={answer.flamegraph.root}
              tags={answer.flamegraph.tags}
              format={format}
              selected={selected}
              toolbar={
                <a href={link} onClick={onLinkClick} data-testid="profile-open">
                  Open in Profiles
                </a>
              }
            />
          </BesideTable>
        )}
      </QueryView>
    </div>
  );
}
