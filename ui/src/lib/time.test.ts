import { describe, expect, it } from 'vitest';
import { parseDuration, parseTime, stepFor } from './time';

describe('parseDuration', () => {
  it('accepts Prometheus-style durations', () => {
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('2d')).toBe(172_800_000);
  });

  it('rejects anything else', () => {
    expect(parseDuration('')).toBeNull();
    expect(parseDuration('15')).toBeNull();
    expect(parseDuration('15x')).toBeNull();
    expect(parseDuration('1h and 5m')).toBeNull();
  });
});

describe('parseTime', () => {
  const now = Date.UTC(2026, 10, 25, 12, 0, 0);

  it('resolves relative expressions against now', () => {
    expect(parseTime('now', now)).toBe(now);
    expect(parseTime('now-1h', now)).toBe(now - 3_600_000);
    expect(parseTime(' now-15m ', now)).toBe(now - 900_000);
  });

  it('takes epoch milliseconds and dates', () => {
    expect(parseTime('1795608326046', now)).toBe(1_795_608_326_046);
    expect(parseTime('2026-11-25T10:00:00Z', now)).toBe(Date.UTC(2026, 10, 25, 10));
  });

  it('rejects garbage', () => {
    expect(parseTime('now-', now)).toBeNull();
    expect(parseTime('now-1q', now)).toBeNull();
    expect(parseTime('yesterday', now)).toBeNull();
  });
});

describe('stepFor', () => {
  it('gives about 240 points and at least one second', () => {
    expect(stepFor({ from: 0, to: 3_600_000 })).toBe(15);
    expect(stepFor({ from: 0, to: 10_000 })).toBe(1);
    expect(stepFor({ from: 0, to: 3_600_000 }, 60)).toBe(60);
  });
});
