// The API client: JSON over fetch with errors that carry the server's message,
// and `useQuery`, which reloads when its dependencies or the refresh tick change.
import { useEffect, useRef, useState } from 'react';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

type Params = Record<string, string | number | boolean | undefined | null | (string | number)[]>;

/** `path?query` with `undefined`/`null`/`''` values left out and arrays repeated. */
export function withQuery(path: string, params: Params = {}): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) value.forEach((item) => query.append(name, String(item)));
    else query.set(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

async function errorOf(response: Response): Promise<ApiError> {
  const text = await response.text();
  let message = text.trim() || response.statusText;
  try {
    const body = JSON.parse(text);
    message = body.error ?? body.message ?? message;
  } catch {
    // not JSON: keep the text
  }
  return new ApiError(`${response.status}: ${message}`, response.status);
}

/** GET `path` with query `params`, parsed as JSON. */
export async function getJson<T>(path: string, params: Params = {}, signal?: AbortSignal): Promise<T> {
  const response = await fetch(withQuery(path, params), { signal, headers: { Accept: 'application/json' } });
  if (!response.ok) throw await errorOf(response);
  return (await response.json()) as T;
}

/** Sends `body` as JSON with `method` and parses the JSON answer (if any). */
export async function sendJson<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const response = await fetch(path, {
    method,
    signal,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw await errorOf(response);
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export interface QueryState<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
}

/**
 * Runs `load` whenever `deps` change; an older answer never overwrites a newer
 * one, and the previous data stays visible while reloading. `load` returning
 * `undefined` (nothing to ask yet) leaves the state empty.
 */
export function useQuery<T>(load: (signal: AbortSignal) => Promise<T> | undefined, deps: unknown[]): QueryState<T> {
  const [state, setState] = useState<QueryState<T>>({ data: undefined, error: undefined, loading: true });
  const generation = useRef(0);
  useEffect(() => {
    const controller = new AbortController();
    const mine = ++generation.current;
    const promise = load(controller.signal);
    if (promise === undefined) {
      setState({ data: undefined, error: undefined, loading: false });
      return () => controller.abort();
    }
    setState((previous) => ({ ...previous, loading: true }));
    promise.then(
      (data) => {
        if (mine === generation.current) setState({ data, error: undefined, loading: false });
      },
      (error: Error) => {
        if (mine === generation.current && error.name !== 'AbortError')
          setState({ data: undefined, error, loading: false });
      },
    );
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return state;
}

// --- Prometheus query API (/prometheus/api/v1) -------------------------------

export interface PromSeries {
  metric: Record<string, string>;
  values: [number, string][];
}

export interface PromVector {
  metric: Record<string, string>;
  value: [number, string];
}

interface PromResponse<T> {
  status: string;
  data: { resultType: string; result: T };
  error?: string;
}

/** A PromQL range query over `[fromMs, toMs]` with `step` seconds. */
export async function promRange(
  query: string,
  fromMs: number,
  toMs: number,
  step: number,
  signal?: AbortSignal,
): Promise<PromSeries[]> {
  const body = await getJson<PromResponse<PromSeries[]>>(
    '/prometheus/api/v1/query_range',
    { query, start: fromMs / 1000, end: toMs / 1000, step },
    signal,
  );
  return body.data.result;
}

/** A PromQL instant query at `timeMs`. */
export async function promInstant(query: string, timeMs: number, signal?: AbortSignal): Promise<PromVector[]> {
  const body = await getJson<PromResponse<PromVector[]>>('/prometheus/api/v1/query', { query, time: timeMs / 1000 }, signal);
  return body.data.result;
}

// --- SQL (/api/v1/sql) ----------------------------------------------------------

export interface SqlResult {
  columns: string[];
  rows: unknown[][];
}

export function sql(statement: string, signal?: AbortSignal): Promise<SqlResult> {
  return sendJson<SqlResult>('POST', '/api/v1/sql', { sql: statement }, signal);
}

/** Quotes a string for SQL. */
export function sqlString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** Escapes a label value for a PromQL matcher. */
export function promString(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
