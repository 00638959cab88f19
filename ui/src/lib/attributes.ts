// Typed attribute values (OTLP string/int/double/bool/array/kvlist) as the
// span and log APIs send them: plain JSON values. JSON alone cannot tell the
// double 2.0 from the int 2 once parsed, but the server writes doubles with a
// decimal point, so `parseTypedJson` reads the number's source text (where the
// browser supports JSON.parse source access) and remembers which keys of
// which objects held a double.
import { ApiError, withQuery } from './api';

export type AttributeType = 'string' | 'int' | 'double' | 'bool' | 'array' | 'kvlist' | 'null';

export type Attributes = Record<string, unknown>;

export interface TypedAttribute {
  key: string;
  type: AttributeType;
  value: unknown;
}

/** Keys (per holder object) whose number was written as a double. */
const doubleKeys = new WeakMap<object, Set<string>>();

/** JSON.parse reviver: records numbers written with `.`/`e` as doubles. */
export function typedJsonReviver(
  this: unknown,
  key: string,
  value: unknown,
  context?: { source?: string },
): unknown {
  if (typeof value === 'number' && context?.source && /[.eE]/.test(context.source) && typeof this === 'object' && this) {
    let keys = doubleKeys.get(this);
    if (!keys) doubleKeys.set(this, (keys = new Set()));
    keys.add(key);
  }
  return value;
}

export function parseTypedJson<T>(text: string): T {
  return JSON.parse(text, typedJsonReviver) as T;
}

/** The OTLP type of `holder[key]`. */
export function attributeType(holder: object, key: string): AttributeType {
  const value = (holder as Record<string, unknown>)[key];
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') {
    // Without source access, an integral double (2.0) reads as an int.
    return doubleKeys.get(holder)?.has(key) || !Number.isInteger(value) ? 'double' : 'int';
  }
  return Array.isArray(value) ? 'array' : 'kvlist';
}

/** The attributes of a map, sorted by key, with their types. */
export function typedAttributes(attributes: Attributes | undefined): TypedAttribute[] {
  if (!attributes) return [];
  return Object.keys(attributes)
    .sort()
    .map((key) => ({ key, type: attributeType(attributes, key), value: attributes[key] }));
}

/** An attribute value as text: doubles keep a decimal point, arrays and maps are JSON. */
export function formatAttribute({ type, value }: TypedAttribute): string {
  switch (type) {
    case 'null':
      return '';
    case 'string':
      return value as string;
    case 'double': {
      const number = value as number;
      return Number.isInteger(number) ? number.toFixed(1) : String(number);
    }
    case 'array':
    case 'kvlist':
      return JSON.stringify(value);
    default:
      return String(value);
  }
}

/** GET `path` as JSON, keeping attribute types (see `parseTypedJson`). */
export async function getTypedJson<T>(
  path: string,
  params: Parameters<typeof withQuery>[1] = {},
  signal?: AbortSignal,
): Promise<T> {
  const response = await fetch(withQuery(path, params), { signal, headers: { Accept: 'application/json' } });
  const text = await response.text();
  if (!response.ok) {
    let message = text.trim() || response.statusText;
    try {
      message = (JSON.parse(text) as { error?: string }).error ?? message;
    } catch {
      // not JSON: keep the text
    }
    throw new ApiError(`${response.status}: ${message}`, response.status);
  }
  return parseTypedJson<T>(text);
}
