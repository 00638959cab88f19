import { describe, expect, it } from 'vitest';
import { attributeType, formatAttribute, parseTypedJson, typedAttributes, typedJsonReviver } from './attributes';

describe('typed attributes', () => {
  it('types every JSON value', () => {
    const attrs = parseTypedJson<Record<string, unknown>>(
      '{"s":"x","i":3,"d":1.5,"b":true,"a":[1,"x"],"m":{"k":1},"n":null}',
    );
    expect(typedAttributes(attrs).map((a) => [a.key, a.type])).toEqual([
      ['a', 'array'],
      ['b', 'bool'],
      ['d', 'double'],
      ['i', 'int'],
      ['m', 'kvlist'],
      ['n', 'null'],
      ['s', 'string'],
    ]);
  });

  it('tells an integral double from an int by its source text', () => {
    const holder = { weight: 2, count: 2 };
    typedJsonReviver.call(holder, 'weight', 2, { source: '2.0' });
    typedJsonReviver.call(holder, 'count', 2, { source: '2' });
    expect(attributeType(holder, 'weight')).toBe('double');
    expect(attributeType(holder, 'count')).toBe('int');
    expect(formatAttribute({ key: 'weight', type: 'double', value: 2 })).toBe('2.0');
  });

  it('formats values', () => {
    expect(formatAttribute({ key: 'a', type: 'array', value: ['a', 1] })).toBe('["a",1]');
    expect(formatAttribute({ key: 'b', type: 'bool', value: false })).toBe('false');
    expect(formatAttribute({ key: 'd', type: 'double', value: 0.25 })).toBe('0.25');
    expect(typedAttributes(undefined)).toEqual([]);
  });
});
