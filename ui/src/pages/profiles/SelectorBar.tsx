// What a profile view selects: service, profile type and label filters, all
// one selector (`type{service_name="api", env="prod"}`) that can also be
// typed by hand.
import { useEffect, useState } from 'react';
import { useQuery } from '../../lib/api';
import {
  MATCH_OPS,
  defaultProfileType,
  equalityValue,
  fetchLabelNames,
  fetchLabelValues,
  formatSelector,
  parseSelector,
  profileTypeLabel,
  withEquality,
} from '../../lib/profiles';
import type { MatchOp, Selector } from '../../lib/profiles';

/** Labels every selector has or that the filters do not offer. */
const HIDDEN_LABELS = new Set(['__name__', 'service_name', '__profile_type__']);

export interface RangeKey {
  from: number;
  to: number;
}

/** The selector as text, applied on Enter or blur when it parses. */
export function QueryInput({
  selector,
  onChange,
  testId = 'profile-query',
}: {
  selector: Selector;
  onChange: (selector: Selector) => void;
  testId?: string;
}) {
  const text = formatSelector(selector);
  const [draft, setDraft] = useState(text);
  useEffect(() => setDraft(text), [text]);
  const parsed = parseSelector(draft);
  const apply = () => {
    if (parsed && draft !== text) onChange(parsed);
  };
  return (
    <input
      className={`profile-query mono ${parsed ? '' : 'invalid'}`}
      value={draft}
      spellCheck={false}
      onChange={(event) => setDraft(event.target.value)}
      onKeyDown={(event) => {
        if (event.key === 'Enter') apply();
        if (event.key === 'Escape') setDraft(text);
      }}
      onBlur={apply}
      aria-label="Profile query"
      title="type{label=&quot;value&quot;, …}: Enter applies"
      data-testid={testId}
    />
  );
}

function AddFilter({
  selector,
  range,
  onAdd,
}: {
  selector: Selector;
  range: RangeKey;
  onAdd: (name: string, op: MatchOp, value: string) => void;
}) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const [op, setOp] = useState<MatchOp>('=');
  const [value, setValue] = useState('');
  const query = formatSelector(selector);
  const names = useQuery(
    (signal) => (open ? fetchLabelNames(query, range.from, range.to, signal) : undefined),
    [open, query, range],
  );
  const values = useQuery(
    (signal) => (open && name ? fetchLabelValues(name, query, range.from, range.to, signal) : undefined),
    [open, name, query, range],
  );
  if (!open) {
    return (
      <button onClick={() => setOpen(true)} data-testid="profile-add-filter">
        + Filter
      </button>
    );
  }
  const choices = (names.data ?? []).filter((n) => !HIDDEN_LABELS.has(n));
  const submit = () => {
    if (!name) return;
    onAdd(name, op, value);
    setOpen(false);
    setName('');
    setValue('');
  };
  return (
    <span className="profile-filter-form">
      <select value={name} onChange={(e) => setName(e.target.value)} aria-label="Label" autoFocus>
        <option value="">label…</option>
        {choices.map((n) => (
          <option key={n}>{n}</option>
        ))}
      </select>
      <select value={op} onChange={(e) => setOp(e.target.value as MatchOp)} aria-label="Operator">
        {MATCH_OPS.map((o) => (
          <option key={o}>{o}</option>
        ))}
      </select>
      <input
        list="profile-filter-values"
        value={value}
        onChange={(e) => setValue(e.target.value)}
        onKeyDown={(e) => e.key === 'Enter' && submit()}
        placeholder="value"
        aria-label="Value"
      />
      <datalist id="profile-filter-values">
        {(values.data ?? []).map((v) => (
          <option key={v} value={v} />
        ))}
      </datalist>
      <button className="primary" onClick={submit} disabled={!name}>
        Add
      </button>
      <button onClick={() => setOpen(false)}>Cancel</button>
    </span>
  );
}

/**
 * The services with profiles and the profile types of the selected service
 * (of all services when none is selected); when a selection lacks a service
 * or a type it has not, the first service and the preferred type are filled
 * in (replacing the history entry, so Back skips the incomplete URL).
 */
export function useSelectorChoices(
  selector: Selector,
  hasQuery: boolean,
  range: RangeKey,
  pickService: boolean,
  onChange: (selector: Selector, replace?: boolean) => void,
): { services: string[] | undefined; types: string[] | undefined } {
  const service = equalityValue(selector, 'service_name');
  const services = useQuery(
    (signal) => fetchLabelValues('service_name', '{}', range.from, range.to, signal),
    [range],
  );
  const serviceQuery = service
    ? formatSelector({ type: '', matchers: [{ name: 'service_name', op: '=', value: service }] })
    : '{}';
  const types = useQuery(
    (signal) => fetchLabelValues('__profile_type__', serviceQuery, range.from, range.to, signal),
    [serviceQuery, range],
  );
  useEffect(() => {
    if (hasQuery || !services.data) return;
    const first = service ?? (pickService ? services.data[0] : undefined);
    onChange(withEquality(selector, 'service_name', first), true);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [hasQuery, services.data, pickService]);
  useEffect(() => {
    const available = types.data;
    if (!hasQuery || !available || available.length === 0 || available.includes(selector.type)) return;
    const type = defaultProfileType(available);
    if (type) onChange({ ...selector, type }, true);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [hasQuery, types.data, selector.type]);
  return { services: services.data, types: types.data };
}

/** Service, type, filters and the query text of `selector`. */
export function SelectorBar({
  selector,
  services,
  types,
  range,
  onChange,
}: {
  selector: Selector;
  services: string[] | undefined;
  types: string[] | undefined;
  range: RangeKey;
  onChange: (selector: Selector, replace?: boolean) => void;
}) {
  const service = equalityValue(selector, 'service_name') ?? '';
  const serviceChoices = services ?? [];
  const typeChoices = types ?? [];
  const filters = selector.matchers
    .map((matcher, index) => ({ matcher, index }))
    .filter(({ matcher }) => !(matcher.name === 'service_name' && matcher.op === '='));

  return (
    <div className="toolbar profile-selector" data-testid="profile-selector">
      <label>
        Service
        <select
          value={service}
          onChange={(event) => onChange(withEquality(selector, 'service_name', event.target.value || undefined))}
          data-testid="profile-service"
        >
          <option value="">All services</option>
          {service && !serviceChoices.includes(service) && <option value={service}>{service}</option>}
          {serviceChoices.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Profile type
        <select
          value={selector.type}
          onChange={(event) => onChange({ ...selector, type: event.target.value })}
          data-testid="profile-type"
        >
          {selector.type && !typeChoices.includes(selector.type) && (
            <option value={selector.type}>{profileTypeLabel(selector.type)}</option>
          )}
          {typeChoices.map((type) => (
            <option key={type} value={type} title={type}>
              {profileTypeLabel(type)} ({type.split(':')[2]})
            </option>
          ))}
        </select>
      </label>
      <div className="profile-filters">
        <span className="profile-filters-label">Filters</span>
        <div className="profile-filters-row">
          {filters.map(({ matcher, index }) => (
            <span className="profile-chip mono" key={index}>
              {matcher.name}
              {matcher.op}
              {JSON.stringify(matcher.value)}
              <button
                aria-label={`Remove filter ${matcher.name}`}
                onClick={() => onChange({ ...selector, matchers: selector.matchers.filter((_, i) => i !== index) })}
              >
                ×
              </button>
            </span>
          ))}
          <AddFilter
            selector={selector}
            range={range}
            onAdd={(name, op, value) => onChange({ ...selector, matchers: [...selector.matchers, { name, op, value }] })}
          />
        </div>
      </div>
      <label className="profile-query-label">
        Query
        <QueryInput selector={selector} onChange={onChange} />
      </label>
    </div>
  );
}
