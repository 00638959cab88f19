// The function tables beside a flamegraph: self and total per function, and
// for a comparison both sides' shares and their change. One sortable table
// serves both; a click selects a function (the flamegraph highlights it).
import { useMemo, useState } from 'react';
import type { ReactNode } from 'react';
import { percent, searchMatcher } from '../lib/flamegraph';
import type { TableRow } from '../lib/profiles';
import './functiontable.css';

/** At most this many rows are drawn; search narrows the rest down. */
export const MAX_ROWS = 500;

interface Column<Row> {
  key: string;
  label: string;
  /** Sort value; numbers sort descending first, text ascending. */
  value: (row: Row) => number | string;
  render: (row: Row) => ReactNode;
  numeric?: boolean;
}

function SortableTable<Row extends { name: string }>({
  rows,
  columns,
  initialSort,
  search,
  selected,
  onSelect,
  testId,
}: {
  rows: Row[];
  columns: Column<Row>[];
  initialSort: string;
  search: string;
  selected?: string;
  onSelect: (name: string | undefined) => void;
  testId: string;
}) {
  const [sort, setSort] = useState({ key: initialSort, descending: true });
  const column = columns.find((c) => c.key === sort.key) ?? columns[0];
  const shown = useMemo(() => {
    const matches = searchMatcher(search);
    const kept = matches ? rows.filter((row) => matches(row.name)) : [...rows];
    kept.sort((a, b) => {
      const x = column.value(a);
      const y = column.value(b);
      const order = x < y ? -1 : x > y ? 1 : 0;
      return sort.descending ? -order : order;
    });
    return kept;
  }, [rows, search, column, sort.descending]);

  const header = (c: Column<Row>) => {
    const active = c.key === sort.key;
    return (
      <th
        key={c.key}
        className={`sortable ${c.numeric ? 'num' : ''}`}
        aria-sort={active ? (sort.descending ? 'descending' : 'ascending') : undefined}
        onClick={() => setSort({ key: c.key, descending: active ? !sort.descending : !!c.numeric })}
      >
        {c.label}
        {active ? (sort.descending ? ' ▾' : ' ▴') : ''}
      </th>
    );
  };

  return (
    <div className="table-scroll profile-table" data-testid={testId}>
      <table className="data">
        <thead>
          <tr>{columns.map(header)}</tr>
        </thead>
        <tbody>
          {shown.slice(0, MAX_ROWS).map((row) => (
            <tr
              key={row.name}
              className={`clickable ${row.name === selected ? 'selected' : ''}`}
              onClick={() => onSelect(row.name === selected ? undefined : row.name)}
              title={row.name}
            >
              {columns.map((c) => (
                <td key={c.key} className={c.numeric ? 'num' : 'profile-symbol mono'}>
                  {c.render(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {shown.length > MAX_ROWS && (
        <div className="muted profile-table-more">
          {MAX_ROWS} of {shown.length} functions shown: search to find the others.
        </div>
      )}
      {shown.length === 0 && <div className="state state-empty">No function matches.</div>}
    </div>
  );
}

/** A table at the left of a flamegraph (or another view), half and half. */
export function BesideTable({ table, children }: { table: ReactNode; children: ReactNode }) {
  return (
    <div className="profile-both">
      <div className="profile-both-table">{table}</div>
      <div className="profile-both-flame">{children}</div>
    </div>
  );
}

/** A value with its share drawn as a bar behind it. */
function Share({ value, total, format }: { value: number; total: number; format: (v: number) => string }) {
  const width = total > 0 ? Math.max(0, Math.min(100, (value / total) * 100)) : 0;
  return (
    <span className="profile-share" title={percent(value, total)}>
      <span className="profile-share-bar" style={{ width: `${width}%` }} />
      <span className="profile-share-text">
        {format(value)} <span className="muted">{percent(value, total)}</span>
      </span>
    </span>
  );
}

export function FunctionTable({
  rows,
  total,
  format,
  search,
  selected,
  onSelect,
}: {
  rows: TableRow[];
  total: number;
  format: (value: number) => string;
  search: string;
  selected?: string;
  onSelect: (name: string | undefined) => void;
}) {
  const columns = useMemo<Column<TableRow>[]>(
    () => [
      { key: 'name', label: 'Function', value: (r) => r.name, render: (r) => r.name },
      {
        key: 'self',
        label: 'Self',
        numeric: true,
        value: (r) => r.self,
        render: (r) => <Share value={r.self} total={total} format={format} />,
      },
      {
        key: 'total',
        label: 'Total',
        numeric: true,
        value: (r) => r.total,
        render: (r) => <Share value={r.total} total={total} format={format} />,
      },
    ],
    [total, format],
  );
  return (
    <SortableTable
      rows={rows}
      columns={columns}
      initialSort="self"
      search={search}
      selected={selected}
      onSelect={onSelect}
      testId="profile-table"
    />
  );
}

/** A function in a comparison: its self share on each side, as fractions. */
export interface DiffRow {
  name: string;
  baseline: number;
  comparison: number;
}

/** Joins two tables by function: each side's self value as a share of its total. */
export function joinTables(
  baseline: { rows: TableRow[]; total: number },
  comparison: { rows: TableRow[]; total: number },
): DiffRow[] {
  const byName = new Map<string, DiffRow>();
  const add = (side: 'baseline' | 'comparison', table: { rows: TableRow[]; total: number }) => {
    for (const row of table.rows) {
      const entry = byName.get(row.name) ?? { name: row.name, baseline: 0, comparison: 0 };
      entry[side] = table.total > 0 ? row.self / table.total : 0;
      byName.set(row.name, entry);
    }
  };
  add('baseline', baseline);
  add('comparison', comparison);
  return [...byName.values()];
}

function formatShare(share: number): string {
  return percent(share, 1);
}

function formatPoints(delta: number): string {
  const points = delta * 100;
  const sign = points > 0 ? '+' : '';
  return `${sign}${Math.abs(points) >= 10 ? points.toFixed(1) : points.toPrecision(2)} pp`;
}

export function DiffTable({
  rows,
  search,
  selected,
  onSelect,
}: {
  rows: DiffRow[];
  search: string;
  selected?: string;
  onSelect: (name: string | undefined) => void;
}) {
  const columns = useMemo<Column<DiffRow>[]>(
    () => [
      { key: 'name', label: 'Function', value: (r) => r.name, render: (r) => r.name },
      { key: 'baseline', label: 'Baseline self', numeric: true, value: (r) => r.baseline, render: (r) => formatShare(r.baseline) },
      {
        key: 'comparison',
        label: 'Comparison self',
        numeric: true,
        value: (r) => r.comparison,
        render: (r) => formatShare(r.comparison),
      },
      {
        key: 'change',
        label: 'Change',
        numeric: true,
        value: (r) => Math.abs(r.comparison - r.baseline),
        render: (r) => {
          const delta = r.comparison - r.baseline;
          return <span className={delta > 0 ? 'profile-worse' : delta < 0 ? 'profile-better' : ''}>{formatPoints(delta)}</span>;
        },
      },
    ],
    [],
  );
  return (
    <SortableTable
      rows={rows}
      columns={columns}
      initialSort="change"
      search={search}
      selected={selected}
      onSelect={onSelect}
      testId="profile-diff-table"
    />
  );
}
