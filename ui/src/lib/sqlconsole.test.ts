import { describe, expect, it } from 'vitest';
import { cellText, shortType, sqlIdentifier } from './sqlconsole';

describe('SQL console helpers', () => {
  it('quotes identifiers only when needed', () => {
    expect(sqlIdentifier('spans')).toBe('spans');
    expect(sqlIdentifier('Spans')).toBe('"Spans"');
    expect(sqlIdentifier('a"b c')).toBe('"a""b c"');
  });

  it('shortens long Arrow types', () => {
    expect(shortType('Utf8')).toBe('Utf8');
    expect(shortType('Timestamp(ns, "UTC")')).toBe('Timestamp(ns, "UTC")');
    expect(shortType('Map("entries": non-null Struct("keys": non-null Utf8, "values": Utf8), unsorted)')).toBe('Map(…)');
  });

  it('renders cells as text', () => {
    expect(cellText(null)).toBe('null');
    expect(cellText(12.5)).toBe('12.5');
    expect(cellText({ a: '1' })).toBe('{"a":"1"}');
    expect(cellText([1, 2])).toBe('[1,2]');
    expect(cellText(true)).toBe('true');
  });
});
