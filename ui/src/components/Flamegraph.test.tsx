import { act } from 'react';
import { createRoot } from 'react-dom/client';
import type { Root } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FlameNode } from '../lib/flamegraph';
import { Flamegraph, ROW_HEIGHT, fitLabel } from './Flamegraph';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const WIDTH = 1000;

function node(name: string, self: number, children: FlameNode[] = []): FlameNode {
  return { name, self, total: self + children.reduce((sum, c) => sum + c.total, 0), children };
}

const makeTree = () =>
  node('total', 0, [node('main', 0, [node('parse', 30), node('work', 10, [node('hash', 40)])]), node('gc', 20)]);

let container: HTMLDivElement;
let root: Root;

beforeEach(() => {
  // jsdom has no layout, canvas or ResizeObserver: give the box a width and draw nothing.
  vi.spyOn(HTMLElement.prototype, 'clientWidth', 'get').mockReturnValue(WIDTH);
  vi.spyOn(HTMLCanvasElement.prototype, 'getContext').mockReturnValue(null);
  vi.stubGlobal(
    'ResizeObserver',
    class {
      observe() {}
      disconnect() {}
    },
  );
  container = document.createElement('div');
  document.body.appendChild(container);
  root = createRoot(container);
});

afterEach(() => {
  act(() => root.unmount());
  container.remove();
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

function canvas(): HTMLCanvasElement {
  return container.querySelector('canvas')!;
}

/** A mouse event over the frame at fraction `x` of the width in row `depth`. */
function fire(type: string, x: number, depth: number) {
  const event = new MouseEvent(type, {
    bubbles: true,
    cancelable: true,
    button: type === 'contextmenu' ? 2 : 0,
    clientX: x * WIDTH,
    clientY: depth * ROW_HEIGHT + ROW_HEIGHT / 2,
  });
  act(() => {
    canvas().dispatchEvent(event);
  });
}

function render(tree: FlameNode, actions?: (node: FlameNode) => { label: string; run: () => void }[]) {
  act(() => root.render(<Flamegraph root={tree} format={(v) => `${v}u`} actions={actions} />));
}

describe('Flamegraph', () => {
  it('shows a frame under the pointer with its values', () => {
    render(makeTree());
    fire('mousemove', 0.5, 3); // hash: x 0.3..0.7 of total 100
    const tooltip = container.querySelector('[data-testid="flame-tooltip"]')!;
    expect(tooltip.textContent).toContain('hash');
    expect(tooltip.textContent).toContain('40u (40.0%)');
    fire('mousemove', 0.75, 3); // work's self: no frame there
    expect(container.querySelector('[data-testid="flame-tooltip"]')).toBeNull();
  });

  it('zooms on a clicked frame, keeps the zoom across a new tree, and resets', () => {
    render(makeTree());
    fire('click', 0.5, 2); // work
    const crumbs = () => [...container.querySelectorAll('.flame-crumbs button.link, .flame-crumbs strong')].map((e) => e.textContent);
    expect(crumbs()).toEqual(['total', 'main', 'work']);
    expect(canvas().getAttribute('aria-label')).toContain('4 levels');

    render(makeTree()); // a refresh: equal names, new objects
    expect(crumbs()).toEqual(['total', 'main', 'work']);

    act(() => (container.querySelector('[data-testid="flame-reset"]') as HTMLButtonElement).click());
    expect(crumbs()).toEqual([]);
    expect(container.querySelector('.flame-hint')).not.toBeNull();
  });

  it('offers the frame actions on right-click', () => {
    const hidden: string[] = [];
    render(makeTree(), (frame) => [{ label: 'Hide', run: () => hidden.push(frame.name) }]);
    fire('contextmenu', 0.1, 2); // parse
    const menu = container.querySelector('[data-testid="flame-menu"]')!;
    const labels = [...menu.querySelectorAll('button')].map((b) => b.textContent);
    expect(labels).toEqual(['Zoom to this frame', 'Copy name', 'Hide']);
    act(() => [...menu.querySelectorAll('button')].find((b) => b.textContent === 'Hide')!.click());
    expect(hidden).toEqual(['parse']);
    expect(container.querySelector('[data-testid="flame-menu"]')).toBeNull();

    fire('contextmenu', 0.5, 0); // the root has no frame actions
    const rootLabels = [...container.querySelectorAll('[data-testid="flame-menu"] button')].map((b) => b.textContent);
    expect(rootLabels).toEqual(['Zoom to this frame', 'Copy name']);
  });
});

describe('labels', () => {
  it('fits names: paths keep their end, functions their start', () => {
    expect(fitLabel('handleRequest', 20)).toBe('handleRequest');
    expect(fitLabel('handleRequest', 7)).toBe('handle…');
    expect(fitLabel('/srv/app/src/a.js:12', 10)).toBe('…c/a.js:12');
    expect(fitLabel('abc', 1)).toBe('');
  });
});
