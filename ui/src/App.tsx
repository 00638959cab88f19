// The shell: top bar with navigation, time picker and theme switch; the page
// chosen by the URL path (single-page app; the server answers every UI path
// with index.html). The metrics page lives at /explore because the server's
// own /metrics is its Prometheus telemetry.
import { lazy, Suspense, useEffect, useState } from 'react';
import type { ComponentType } from 'react';
import { Loading } from './components/States';
import { TimePicker } from './components/TimePicker';
import { href, onLinkClick, useLocation } from './lib/url';

interface Route {
  path: string;
  title: string;
  page: ComponentType;
  /** Also matches paths under `path/`. */
  prefix?: boolean;
}

const routes: Route[] = [
  { path: '/', title: 'Overview', page: lazy(() => import('./pages/Overview')) },
  { path: '/services', title: 'Services', page: lazy(() => import('./pages/Services')) },
  { path: '/traces', title: 'Traces', page: lazy(() => import('./pages/Traces')), prefix: true },
  { path: '/logs', title: 'Logs', page: lazy(() => import('./pages/Logs')) },
  { path: '/explore', title: 'Metrics', page: lazy(() => import('./pages/Metrics')) },
  { path: '/profiles', title: 'Profiles', page: lazy(() => import('./pages/Profiles')) },
  { path: '/sql', title: 'SQL', page: lazy(() => import('./pages/Sql')) },
];

export function matchRoute(path: string): Route | undefined {
  return routes.find((r) => r.path === path || (r.prefix && path.startsWith(r.path + '/')));
}

type Theme = 'light' | 'dark';

function initialTheme(): Theme {
  const saved = localStorage.getItem('vispyr.theme');
  if (saved === 'light' || saved === 'dark') return saved;
  return window.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function App() {
  const { path } = useLocation();
  const [theme, setTheme] = useState<Theme>(initialTheme);
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem('vispyr.theme', theme);
  }, [theme]);

  const route = matchRoute(path);
  useEffect(() => {
    document.title = route ? `${route.title} · Vispyr` : 'Vispyr';
  }, [route]);
  const Page = route?.page;

  return (
    <div className="app">
      <header className="topbar">
        <a className="brand" href={href('/')} onClick={onLinkClick}>
          Vispyr
        </a>
        <nav>
          {routes.map((r) => {
            const active = r === route;
            return (
              <a
                key={r.path}
                href={href(r.path)}
                onClick={onLinkClick}
                className={active ? 'active' : ''}
                aria-current={active ? 'page' : undefined}
              >
                {r.title}
              </a>
            );
          })}
        </nav>
        <div className="topbar-right">
          <TimePicker />
          <button
            onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
            title="Switch theme"
            aria-label="Switch theme"
            data-testid="theme-toggle"
          >
            {theme === 'dark' ? '☀' : '☾'}
          </button>
        </div>
      </header>
      <main className="page">
        {Page ? (
          <Suspense fallback={<Loading />}>
            <Page />
          </Suspense>
        ) : (
          <div className="state state-empty">
            No page at <code>{path}</code>. <a href={href('/')} onClick={onLinkClick}>Go to the overview</a>.
          </div>
        )}
      </main>
    </div>
  );
}
