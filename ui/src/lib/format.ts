// Number, duration and time formatting shared by every page.

/** `1234567` → `1.23M`. */
export function formatNumber(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [size, suffix] of units) {
    if (abs >= size) return `${trim((value / size).toPrecision(digits))}${suffix}`;
  }
  if (abs === 0) return '0';
  if (abs < 0.001) return value.toExponential(2);
  return trim(value.toPrecision(digits));
}

function trim(text: string): string {
  return text.includes('.') && !text.includes('e') ? text.replace(/\.?0+$/, '') : text;
}

/** A duration in nanoseconds as `512µs`, `12.3ms`, `1.52s`, `2m 5s`. */
export function formatDurationNs(ns: number): string {
  if (ns < 1_000) return `${Math.round(ns)}ns`;
  if (ns < 1_000_000) return `${trim((ns / 1_000).toPrecision(3))}µs`;
  if (ns < 1_000_000_000) return `${trim((ns / 1_000_000).toPrecision(3))}ms`;
  const seconds = ns / 1_000_000_000;
  if (seconds < 60) return `${trim(seconds.toPrecision(3))}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${Math.round(seconds - minutes * 60)}s`;
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
}

/** A duration in seconds (PromQL latency values). */
export function formatSeconds(seconds: number): string {
  return formatDurationNs(seconds * 1e9);
}

/** Bytes as `1.5 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : trim(value.toPrecision(3))} ${units[unit]}`;
}

/** A value in the given unit (`ns`, `s`, `bytes`, `percent`, `count`). */
export function formatValue(value: number, unit?: string): string {
  switch (unit) {
    case 'ns':
    case 'nanoseconds':
      return formatDurationNs(value);
    case 's':
    case 'seconds':
      return formatSeconds(value);
    case 'bytes':
      return formatBytes(value);
    case 'percent':
      return `${trim(value.toFixed(1))}%`;
    default:
      return formatNumber(value);
  }
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** Local time `2026-11-25 12:03:04.123`. */
export function formatTime(ms: number, withMillis = false): string {
  const d = new Date(ms);
  const base = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withMillis ? `${base}.${pad(d.getMilliseconds(), 3)}` : base;
}

/** `5m ago`. */
export function formatAgo(ms: number, now: number = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - ms) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}
