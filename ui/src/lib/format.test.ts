import { describe, expect, it } from 'vitest';
import { formatBytes, formatDurationNs, formatNumber, formatSeconds, formatValue } from './format';

describe('formatNumber', () => {
  it('uses SI suffixes and trims zeros', () => {
    expect(formatNumber(0)).toBe('0');
    expect(formatNumber(12)).toBe('12');
    expect(formatNumber(1234)).toBe('1.23k');
    expect(formatNumber(1_000_000)).toBe('1M');
    expect(formatNumber(-2_500_000_000)).toBe('-2.5G');
    expect(formatNumber(0.0001)).toBe('1.00e-4');
    expect(formatNumber(Number.NaN)).toBe('NaN');
  });
});

describe('durations', () => {
  it('picks the unit by size', () => {
    expect(formatDurationNs(512)).toBe('512ns');
    expect(formatDurationNs(1_500)).toBe('1.5µs');
    expect(formatDurationNs(12_345_678)).toBe('12.3ms');
    expect(formatDurationNs(1_520_000_000)).toBe('1.52s');
    expect(formatDurationNs(125e9)).toBe('2m 5s');
    expect(formatDurationNs(3 * 3600e9 + 60e9)).toBe('3h 1m');
    expect(formatSeconds(0.25)).toBe('250ms');
  });
});

describe('bytes and units', () => {
  it('formats binary sizes', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(17.2 * 1024 ** 3)).toBe('17.2 GiB');
  });

  it('formats by unit name', () => {
    expect(formatValue(2e9, 'nanoseconds')).toBe('2s');
    expect(formatValue(0.002, 's')).toBe('2ms');
    expect(formatValue(2048, 'bytes')).toBe('2 KiB');
    expect(formatValue(12.34, 'percent')).toBe('12.3%');
    expect(formatValue(1500)).toBe('1.5k');
  });
});
