// A PromQL input with autocomplete from the Prometheus API: metric and
// function names, label names after `{` (of that metric), label values inside
// `label="…"`, durations in `[…]`. Enter runs the query (Shift+Enter too);
// with the list open, Enter or Tab takes the highlighted suggestion. Brackets
// close as they open.
import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { getJson } from '../lib/api';
import type { CompletionContext, Suggestion } from '../lib/promql';
import {
  applyCompletion,
  completionContext,
  PROMQL_AGGREGATIONS,
  PROMQL_DURATIONS,
  PROMQL_FUNCTIONS,
  rankSuggestions,
} from '../lib/promql';
import './promqleditor.css';

const FUNCTIONS: Suggestion[] = [...PROMQL_AGGREGATIONS, ...PROMQL_FUNCTIONS].map((value) => ({ value, type: 'function' }));
const DURATIONS: Suggestion[] = PROMQL_DURATIONS.map((value) => ({ value, type: 'duration' }));

/** Answers of the metadata endpoints, shared by every editor; a failed answer is forgotten. */
const metadataCache = new Map<string, Promise<string[]>>();

function metadata(path: string, params: Record<string, string | number | undefined>): Promise<string[]> {
  const key = JSON.stringify([path, params]);
  let answer = metadataCache.get(key);
  if (!answer) {
    answer = getJson<{ data: string[] }>(path, params).then(
      (body) => body.data,
      () => {
        metadataCache.delete(key);
        return [];
      },
    );
    metadataCache.set(key, answer);
  }
  return answer;
}

/** The candidates for a context, over `range` (rounded to the minute so answers are reused). */
async function candidates(context: CompletionContext, range: { from: number; to: number }): Promise<Suggestion[]> {
  const span = {
    start: Math.floor(range.from / 60_000) * 60,
    end: Math.ceil(range.to / 60_000) * 60,
  };
  const match = context.metric || context.matchers?.length ? `${context.metric ?? ''}{${(context.matchers ?? []).join(',')}}` : undefined;
  switch (context.kind) {
    case 'metric': {
      const names = await metadata('/prometheus/api/v1/label/__name__/values', span);
      return [...names.map((value): Suggestion => ({ value, type: 'metric' })), ...FUNCTIONS];
    }
    case 'label-name': {
      const names = await metadata('/prometheus/api/v1/labels', { ...span, 'match[]': match });
      return names.filter((name) => name !== '__name__').map((value) => ({ value, type: 'label' }));
    }
    case 'label-value': {
      const values = await metadata(`/prometheus/api/v1/label/${encodeURIComponent(context.label!)}/values`, {
        ...span,
        'match[]': match,
      });
      return values.map((value) => ({ value, type: 'value' }));
    }
    case 'duration':
      return DURATIONS;
    default:
      return [];
  }
}

const PAIRS: Record<string, string> = { '{': '}', '(': ')', '[': ']' };
const CLOSERS = new Set(Object.values(PAIRS));

interface Open {
  context: CompletionContext;
  items: Suggestion[];
  active: number;
}

const TYPE_TAG: Record<Suggestion['type'], string> = {
  metric: 'metric',
  function: 'fn',
  label: 'label',
  value: 'value',
  duration: 'range',
};

export function PromqlEditor({
  value,
  onChange,
  onRun,
  range,
  placeholder = 'PromQL, e.g. rate(http_requests_total[5m])',
  testId = 'promql-editor',
}: {
  value: string;
  onChange: (value: string) => void;
  onRun: () => void;
  range: { from: number; to: number };
  placeholder?: string;
  testId?: string;
}) {
  const input = useRef<HTMLTextAreaElement>(null);
  const [open, setOpen] = useState<Open | null>(null);
  /** Where the cursor goes after a completion is rendered. */
  const pendingCursor = useRef<number | null>(null);
  /** Only the newest lookup may open the list. */
  const lookup = useRef(0);

  const suggest = async (text: string, cursor: number) => {
    const mine = ++lookup.current;
    const context = completionContext(text, cursor);
    if (context.kind === 'none') {
      setOpen(null);
      return;
    }
    const items = rankSuggestions(await candidates(context, range), context.prefix);
    if (mine !== lookup.current) return;
    setOpen(items.length ? { context, items, active: 0 } : null);
  };

  useLayoutEffect(() => {
    const cursor = pendingCursor.current;
    const element = input.current;
    if (cursor === null || !element) return;
    pendingCursor.current = null;
    element.setSelectionRange(cursor, cursor);
    void suggest(element.value, cursor);
  });

  // Close the list when the query is replaced from outside (history, presets).
  useEffect(() => {
    if (document.activeElement !== input.current) setOpen(null);
  }, [value]);

  const accept = (suggestion: Suggestion) => {
    if (!open) return;
    const completion = applyCompletion(value, open.context, suggestion);
    pendingCursor.current = completion.cursor;
    setOpen(null);
    onChange(completion.text);
  };

  const onKeyDown = (event: React.KeyboardEvent<HTMLTextAreaElement>) => {
    if (open) {
      const move = (delta: number) =>
        setOpen({ ...open, active: (open.active + delta + open.items.length) % open.items.length });
      if (event.key === 'ArrowDown') return (event.preventDefault(), move(1));
      if (event.key === 'ArrowUp') return (event.preventDefault(), move(-1));
      if (event.key === 'Escape') return (event.preventDefault(), setOpen(null));
      if ((event.key === 'Enter' && !event.shiftKey && !event.ctrlKey && !event.metaKey) || event.key === 'Tab') {
        event.preventDefault();
        accept(open.items[open.active]);
        return;
      }
    }
    const element = event.currentTarget;
    const { selectionStart: start, selectionEnd: end } = element;
    if (event.key === 'Enter') {
      event.preventDefault();
      setOpen(null);
      onRun();
    } else if (event.key in PAIRS && start === end && /^($|[\s)\]},])/.test(value.slice(end))) {
      // Close brackets as they open, so that `{` is a selector to complete in.
      event.preventDefault();
      pendingCursor.current = start + 1;
      onChange(value.slice(0, start) + event.key + PAIRS[event.key] + value.slice(end));
    } else if (CLOSERS.has(event.key) && start === end && value[start] === event.key) {
      // Typing the closing bracket steps over the one already there.
      event.preventDefault();
      element.setSelectionRange(start + 1, start + 1);
      void suggest(value, start + 1);
    } else if (event.key === ' ' && event.ctrlKey) {
      event.preventDefault();
      void suggest(value, start);
    }
  };

  return (
    <div className="promql-editor">
      <textarea
        ref={input}
        value={value}
        rows={1}
        spellCheck={false}
        autoComplete="off"
        placeholder={placeholder}
        data-testid={testId}
        aria-autocomplete="list"
        aria-expanded={open !== null}
        onChange={(e) => {
          onChange(e.target.value);
          void suggest(e.target.value, e.target.selectionStart);
        }}
        onKeyDown={onKeyDown}
        onClick={(e) => void suggest(value, e.currentTarget.selectionStart)}
        onBlur={() => setOpen(null)}
      />
      {open && (
        <ul className="promql-suggestions" role="listbox" data-testid="promql-autocomplete">
          {open.items.map((item, i) => (
            <li
              key={`${item.type}:${item.value}`}
              role="option"
              aria-selected={i === open.active}
              className={i === open.active ? 'active' : ''}
              data-testid="promql-suggestion"
              data-value={item.value}
              ref={i === open.active ? (element) => element?.scrollIntoView({ block: 'nearest' }) : undefined}
              // mousedown, not click: the textarea must keep focus.
              onMouseDown={(e) => {
                e.preventDefault();
                accept(item);
              }}
              onMouseEnter={() => setOpen({ ...open, active: i })}
            >
              <span className="promql-suggestion-value">{item.value}</span>
              <span className={`promql-suggestion-type type-${item.type}`}>{TYPE_TAG[item.type]}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
