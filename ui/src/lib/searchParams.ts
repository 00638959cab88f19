// URL helpers for page state with repeated parameters (`attr=a=1&attr=b=2`,
// `service=a&service=b`), which `href`/`setParams` of ./url (one value per
// name) cannot express.
import { GLOBAL_PARAMS, navigate } from './url';

export type UrlValues = Record<string, string | string[] | undefined>;

/** Writes `values` into `params`: arrays repeat the name, empty values remove it. */
export function applyValues(params: URLSearchParams, values: UrlValues): URLSearchParams {
  for (const [name, value] of Object.entries(values)) {
    params.delete(name);
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && item !== '') params.append(name, item);
    }
  }
  return params;
}

function withSearch(path: string, params: URLSearchParams): string {
  const query = params.toString();
  return query ? `${path}?${query}` : path;
}

/** A link to `path` with `values`, keeping the global time range and refresh. */
export function hrefWith(path: string, values: UrlValues, current = window.location.search): string {
  const currentParams = new URLSearchParams(current);
  const params = new URLSearchParams();
  for (const name of GLOBAL_PARAMS) {
    const value = currentParams.get(name);
    if (value !== null) params.set(name, value);
  }
  return withSearch(path, applyValues(params, values));
}

/** Changes parameters of the current page (keeping all others). */
export function setParamsWith(values: UrlValues, replace = false): void {
  const params = applyValues(new URLSearchParams(window.location.search), values);
  navigate(withSearch(window.location.pathname, params), replace);
}

/** The non-empty values of a repeated parameter. */
export function allValues(params: URLSearchParams, name: string): string[] {
  return params.getAll(name).filter((value) => value !== '');
}
