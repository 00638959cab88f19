// SQL console over Vispyr's tables (DataFusion): an editor (Ctrl/Cmd+Enter
// runs), the result table with row count and time taken, and the tables with
// their columns and types in a sidebar. The query is in the URL (`q`), so a
// link re-runs it.
import { useEffect, useRef, useState } from 'react';
import type { QueryState, SqlResult } from '../lib/api';
import { sendJson, useQuery } from '../lib/api';
import { cellText, shortType, sqlIdentifier } from '../lib/sqlconsole';
import { useParam } from '../lib/url';
import { ErrorState, Loading, Panel } from '../components/States';
import './sql.css';

interface SqlAnswer extends SqlResult {
  /** More rows existed than the server's row limit (`query.sql_row_limit`). */
  truncated?: boolean;
}

interface Timed {
  result: SqlAnswer;
  elapsedMs: number;
}

async function runSql(statement: string, signal: AbortSignal): Promise<Timed> {
  const started = performance.now();
  const result = await sendJson<SqlAnswer>('POST', '/api/v1/sql', { sql: statement }, signal);
  return { result, elapsedMs: performance.now() - started };
}

interface TableSchema {
  name: string;
  columns: { name: string; type: string }[];
}

const SCHEMA_SQL = `select table_name, column_name, data_type from information_schema.columns
where table_schema = 'public' order by table_name, ordinal_position`;

async function loadSchema(signal: AbortSignal): Promise<TableSchema[]> {
  const { rows } = await sendJson<SqlResult>('POST', '/api/v1/sql', { sql: SCHEMA_SQL }, signal);
  const tables = new Map<string, TableSchema>();
  for (const [table, column, type] of rows as [string, string, string][]) {
    if (!tables.has(table)) tables.set(table, { name: table, columns: [] });
    tables.get(table)!.columns.push({ name: column, type });
  }
  return [...tables.values()];
}

export default function Sql() {
  const [committed, setCommitted] = useParam('q');
  const [draft, setDraft] = useState(committed);
  useEffect(() => setDraft(committed), [committed]);
  // Running the same statement again must reload, so runs are counted.
  const [runs, setRuns] = useState(0);
  const editor = useRef<HTMLTextAreaElement>(null);

  const run = (statement = draft) => {
    if (!statement.trim()) return;
    setDraft(statement);
    setCommitted(statement);
    setRuns((n) => n + 1);
  };
  const query = useQuery((signal) => (committed.trim() ? runSql(committed, signal) : undefined), [committed, runs]);
  const schema = useQuery(loadSchema, []);

  const insertAtCursor = (text: string) => {
    const element = editor.current;
    const start = element?.selectionStart ?? draft.length;
    const end = element?.selectionEnd ?? draft.length;
    setDraft(draft.slice(0, start) + text + draft.slice(end));
    requestAnimationFrame(() => {
      element?.focus();
      element?.setSelectionRange(start + text.length, start + text.length);
    });
  };

  return (
    <div className="sql-page">
      <aside className="panel sql-schema" data-testid="sql-schema">
        <header className="panel-header">
          <h2>Tables</h2>
        </header>
        <div className="sql-schema-body">
          {schema.error ? (
            <ErrorState error={schema.error} />
          ) : !schema.data ? (
            <Loading />
          ) : (
            schema.data.map((table) => (
              <details key={table.name} className="sql-table" data-testid="sql-table" data-table={table.name}>
                <summary>
                  <button
                    className="link-button"
                    title={`Run select * from ${table.name} limit 100`}
                    onClick={(e) => {
                      e.preventDefault();
                      run(`select * from ${sqlIdentifier(table.name)} limit 100`);
                    }}
                    data-testid="sql-table-name"
                  >
                    {table.name}
                  </button>
                  <span className="muted sql-count">{table.columns.length}</span>
                </summary>
                <ul>
                  {table.columns.map((column) => (
                    <li key={column.name}>
                      <button
                        className="link-button sql-column"
                        title="Insert the column name at the cursor"
                        onClick={() => insertAtCursor(sqlIdentifier(column.name))}
                        data-testid="sql-column"
                      >
                        {column.name}
                      </button>
                      <span className="sql-type" title={column.type}>
                        {shortType(column.type)}
                      </span>
                    </li>
                  ))}
                </ul>
              </details>
            ))
          )}
        </div>
      </aside>
      <div className="sql-main">
        <section className="panel sql-editor-panel">
          <textarea
            ref={editor}
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
                e.preventDefault();
                run();
              }
            }}
            spellCheck={false}
            rows={7}
            placeholder="select service_name, count(*) from spans group by service_name"
            data-testid="sql-editor"
          />
          <div className="toolbar sql-actions">
            <button className="primary" onClick={() => run()} disabled={!draft.trim()} data-testid="sql-run">
              Run
            </button>
            <span className="muted">Ctrl+Enter (⌘+Enter) runs · click a table to query it, a column to insert it</span>
          </div>
        </section>
        <SqlResults query={query} />
      </div>
    </div>
  );
}

function SqlResults({ query }: { query: QueryState<Timed> }) {
  const { data, error, loading } = query;
  const status = data && (
    <span className="muted" data-testid="sql-status">
      {data.result.rows.length} {data.result.rows.length === 1 ? 'row' : 'rows'}
      {data.result.truncated && ' (truncated at the row limit)'} · {Math.round(data.elapsedMs)} ms
      {loading && ' · running…'}
    </span>
  );
  return (
    <Panel title="Result" actions={status}>
      {error ? (
        <div data-testid="sql-error">
          <ErrorState error={error} />
        </div>
      ) : !data ? (
        loading ? <Loading label="Running…" /> : <div className="state state-empty">Write a query and run it.</div>
      ) : data.result.rows.length === 0 ? (
        <div className="state state-empty" data-testid="sql-results-empty">
          No rows. Columns: {data.result.columns.join(', ') || '—'}
        </div>
      ) : (
        <div className="table-scroll sql-results-scroll">
          <table className="data sql-results" data-testid="sql-results">
            <thead>
              <tr>
                {data.result.columns.map((column, i) => (
                  <th key={i}>{column}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {data.result.rows.map((row, r) => (
                <tr key={r}>
                  {row.map((value, c) => {
                    const text = cellText(value);
                    return (
                      <td
                        key={c}
                        className={`${typeof value === 'number' ? 'num' : ''}${value === null ? ' muted' : ''}`}
                        title={text.length > 60 ? text : undefined}
                      >
                        {text}
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Panel>
  );
}
