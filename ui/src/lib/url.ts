// URL state: the path picks the page, the query string holds the page's state,
// so every view is a shareable link. Components read it with `useParam` and
// write it with `setParams`, which pushes (or replaces) a history entry.
import { useSyncExternalStore } from 'react';

const CHANGE = 'vispyr:navigate';

function subscribe(callback: () => void): () => void {
  window.addEventListener('popstate', callback);
  window.addEventListener(CHANGE, callback);
  return () => {
    window.removeEventListener('popstate', callback);
    window.removeEventListener(CHANGE, callback);
  };
}

function snapshot(): string {
  return window.location.pathname + window.location.search;
}

/** The current path and query string; re-renders on every navigation. */
export function useLocation(): { path: string; params: URLSearchParams } {
  const href = useSyncExternalStore(subscribe, snapshot);
  const url = new URL(href, 'http://x');
  return { path: url.pathname, params: url.searchParams };
}

/** Parameters that survive a page change: the time range and auto-refresh. */
export const GLOBAL_PARAMS = ['from', 'to', 'refresh'];

/** Builds a link to `path` keeping the global parameters of the current URL. */
export function href(path: string, params: Record<string, string | undefined> = {}): string {
  const current = new URLSearchParams(window.location.search);
  const next = new URLSearchParams();
  for (const name of GLOBAL_PARAMS) {
    const value = current.get(name);
    if (value !== null) next.set(name, value);
  }
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== '') next.set(name, value);
    else next.delete(name);
  }
  const query = next.toString();
  return query ? `${path}?${query}` : path;
}

/** Goes to `url` (a path with optional query) without reloading the page. */
export function navigate(url: string, replace = false): void {
  if (replace) window.history.replaceState(null, '', url);
  else window.history.pushState(null, '', url);
  window.dispatchEvent(new Event(CHANGE));
}

/** Sets (or, with `undefined` / `''`, removes) query parameters of the current page. */
export function setParams(changes: Record<string, string | undefined>, replace = false): void {
  const params = new URLSearchParams(window.location.search);
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined || value === '') params.delete(name);
    else params.set(name, value);
  }
  const query = params.toString();
  navigate(window.location.pathname + (query ? `?${query}` : ''), replace);
}

/** One query parameter as state: `[value, set]`. */
export function useParam(name: string, fallback = ''): [string, (value: string) => void] {
  const { params } = useLocation();
  const value = params.get(name) ?? fallback;
  return [value, (next: string) => setParams({ [name]: next === fallback ? undefined : next })];
}

/** Click handler for `<a href>` that navigates in-app (plain clicks only). */
export function onLinkClick(event: React.MouseEvent<HTMLAnchorElement>): void {
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(event.currentTarget.getAttribute('href') ?? '/');
}
