// PromQL over node_exporter's series: the System dashboard of the Metrics page
// (one host) and the host utilisation panels of the Overview (every host).
import { selector } from './promql';

/** The series whose `instance` values list the hosts. */
export const HOST_SERIES = 'node_cpu_seconds_total';

/** Pseudo and read-only filesystems whose fullness says nothing. */
const REAL_FILESYSTEMS = 'fstype!~"tmpfs|ramfs|devtmpfs|squashfs|overlay|nsfs|proc|sysfs|cgroup2?|autofs|fuse\\\\..*"';

export interface DashboardPanel {
  id: string;
  title: string;
  unit?: string;
  queries: { expr: string; legend?: string }[];
}

/** CPU busy share per host, in percent. */
export function hostCpuQuery(window: string, instance?: string): string {
  return `100 * (1 - avg by (instance) (rate(${selector(HOST_SERIES, { instance, mode: 'idle' })}[${window}])))`;
}

/** Memory in use (not available) per host, in percent. */
export function hostMemoryQuery(instance?: string): string {
  const labels = { instance };
  return `100 * (1 - ${selector('node_memory_MemAvailable_bytes', labels)} / ${selector('node_memory_MemTotal_bytes', labels)})`;
}

/** The System dashboard of one host: CPU, memory, load, disk, network and filesystems. */
export function systemPanels(instance: string, window: string): DashboardPanel[] {
  const of = (metric: string, extra: string[] = []) => selector(metric, { instance }, extra);
  const rate = (metric: string, extra: string[] = []) => `rate(${of(metric, extra)}[${window}])`;
  const fs = [REAL_FILESYSTEMS];
  return [
    {
      id: 'cpu',
      title: 'CPU by mode (idle left out)',
      unit: 'percent',
      queries: [{ expr: `100 * avg by (mode) (${rate('node_cpu_seconds_total', ['mode!="idle"'])})`, legend: '{{mode}}' }],
    },
    {
      id: 'memory',
      title: 'Memory',
      unit: 'bytes',
      queries: [
        { expr: `${of('node_memory_MemTotal_bytes')} - ${of('node_memory_MemAvailable_bytes')}`, legend: 'used' },
        { expr: of('node_memory_MemTotal_bytes'), legend: 'total' },
      ],
    },
    {
      id: 'load',
      title: 'Load average',
      queries: [
        { expr: of('node_load1'), legend: 'load1' },
        { expr: of('node_load5'), legend: 'load5' },
        { expr: of('node_load15'), legend: 'load15' },
      ],
    },
    {
      id: 'disk',
      title: 'Disk I/O (bytes/s)',
      unit: 'bytes',
      queries: [
        { expr: `sum by (device) (${rate('node_disk_read_bytes_total')})`, legend: '{{device}} read' },
        { expr: `sum by (device) (${rate('node_disk_written_bytes_total')})`, legend: '{{device}} written' },
      ],
    },
    {
      id: 'network',
      title: 'Network (bytes/s)',
      unit: 'bytes',
      queries: [
        { expr: `sum by (device) (${rate('node_network_receive_bytes_total', ['device!="lo"'])})`, legend: '{{device}} in' },
        { expr: `sum by (device) (${rate('node_network_transmit_bytes_total', ['device!="lo"'])})`, legend: '{{device}} out' },
      ],
    },
    {
      id: 'filesystem',
      title: 'Filesystem use',
      unit: 'percent',
      queries: [
        {
          expr: `100 * (1 - ${of('node_filesystem_avail_bytes', fs)} / ${of('node_filesystem_size_bytes', fs)})`,
          legend: '{{mountpoint}}',
        },
      ],
    },
  ];
}
