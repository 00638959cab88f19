import { describe, expect, it } from 'vitest';
import { hostCpuQuery, hostMemoryQuery, systemPanels } from './hostmetrics';

describe('host queries', () => {
  it('measures CPU and memory per host, or of one host', () => {
    expect(hostCpuQuery('1m')).toBe(
      '100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m])))',
    );
    expect(hostCpuQuery('1m', 'h:9100')).toContain('{instance="h:9100", mode="idle"}');
    expect(hostMemoryQuery()).toBe('100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)');
  });

  it('scopes every System panel query to the host', () => {
    const panels = systemPanels('a"b', '2m');
    expect(panels.map((p) => p.id)).toEqual(['cpu', 'memory', 'load', 'disk', 'network', 'filesystem']);
    for (const panel of panels) {
      for (const query of panel.queries) expect(query.expr).toContain('instance="a\\"b"');
    }
    const cpu = panels[0].queries[0].expr;
    expect(cpu).toBe('100 * avg by (mode) (rate(node_cpu_seconds_total{instance="a\\"b", mode!="idle"}[2m]))');
    expect(panels[5].queries[0].expr).toContain('fuse\\\\..*');
  });
});
