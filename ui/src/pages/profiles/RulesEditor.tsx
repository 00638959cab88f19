// The saved view's rules: presets to apply, and hide / collapse / rename / tag
// rules stored on the server (rules from vispyr.yaml are listed read-only).
// Every client that asks for `rules=default` sees the same view.
import { useEffect, useState } from 'react';
import { Panel, ErrorState, Loading } from '../../components/States';
import { useQuery } from '../../lib/api';
import {
  cleanRule,
  createRule,
  deleteRule,
  fetchRules,
  replaceRule,
  setStoredPresets,
} from '../../lib/profiles';
import type { ListedRule, Rule, RuleField, RuleKind } from '../../lib/profiles';

const KINDS: { kind: RuleKind; label: string; help: string }[] = [
  { kind: 'hide', label: 'Hide', help: 'drop matching frames; their callees move up to the caller' },
  { kind: 'collapse', label: 'Collapse', help: 'a run of matching frames becomes one frame (the package, or Name)' },
  { kind: 'rename', label: 'Rename', help: 'regex replacement on the frame name ($1 for captures)' },
  { kind: 'tag', label: 'Tag', help: 'colour matching frames; "Group by tag" merges runs of one tag' },
];

const FIELDS: RuleField[] = ['any', 'function', 'file', 'package', 'mapping', 'name'];

/** A rule being edited: `id` set when it replaces a stored rule. */
export interface RuleDraft {
  id?: string;
  rule: Rule;
}

function describe(rule: Rule): string {
  const field = rule.field && rule.field !== 'any' ? `${rule.field} ` : '';
  switch (rule.kind) {
    case 'hide':
      return `hide ${field}${rule.pattern}`;
    case 'collapse':
      return `collapse ${field}${rule.pattern}${rule.name ? ` → ${rule.name}` : ''}`;
    case 'rename':
      return `rename ${rule.pattern} → ${rule.replacement ?? ''}`;
    case 'tag':
      return `tag ${field}${rule.pattern} as ${rule.name ?? ''}`;
  }
}

function RuleForm({
  draft,
  onSaved,
  onCancel,
}: {
  draft: RuleDraft;
  onSaved: () => void;
  onCancel: () => void;
}) {
  const [rule, setRule] = useState<Rule>(draft.rule);
  const [error, setError] = useState<Error>();
  const [saving, setSaving] = useState(false);
  useEffect(() => {
    setRule(draft.rule);
    setError(undefined);
  }, [draft]);
  const edit = (changes: Partial<Rule>) => setRule({ ...rule, ...changes });
  const kind = KINDS.find((k) => k.kind === rule.kind)!;
  const save = async () => {
    setSaving(true);
    setError(undefined);
    try {
      const clean = cleanRule(rule);
      if (draft.id) await replaceRule(draft.id, clean);
      else await createRule(clean);
      onSaved();
    } catch (caught) {
      setError(caught as Error);
    } finally {
      setSaving(false);
    }
  };
  return (
    <div className="rule-form" data-testid="rule-form">
      <div className="toolbar">
        <label>
          Kind
          <select value={rule.kind} onChange={(e) => edit({ kind: e.target.value as RuleKind })} data-testid="rule-kind">
            {KINDS.map((k) => (
              <option key={k.kind} value={k.kind}>
                {k.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Match
          <select
            value={rule.kind === 'rename' ? 'name' : (rule.field ?? 'any')}
            disabled={rule.kind === 'rename'}
            onChange={(e) => edit({ field: e.target.value as RuleField })}
            data-testid="rule-field"
          >
            {FIELDS.map((f) => (
              <option key={f} value={f}>
                {f === 'any' ? 'function or file' : f === 'name' ? 'display name' : f}
              </option>
            ))}
          </select>
        </label>
        <label className="rule-pattern">
          Pattern
          <input
            className="mono"
            value={rule.pattern}
            onChange={(e) => edit({ pattern: e.target.value })}
            placeholder="node_modules/** or regex:^internal/"
            data-testid="rule-pattern"
          />
        </label>
        {rule.kind === 'rename' && (
          <label className="rule-pattern">
            Replacement
            <input
              className="mono"
              value={rule.replacement ?? ''}
              onChange={(e) => edit({ replacement: e.target.value })}
              data-testid="rule-replacement"
            />
          </label>
        )}
        {(rule.kind === 'collapse' || rule.kind === 'tag') && (
          <label>
            {rule.kind === 'tag' ? 'Tag' : 'Name (optional)'}
            <input value={rule.name ?? ''} onChange={(e) => edit({ name: e.target.value })} data-testid="rule-name" />
          </label>
        )}
        {rule.kind === 'tag' && (
          <label>
            Colour
            <input
              type="color"
              value={/^#[0-9a-f]{6}$/i.test(rule.color ?? '') ? rule.color : '#8e44ad'}
              onChange={(e) => edit({ color: e.target.value })}
            />
          </label>
        )}
        <button className="primary" onClick={save} disabled={saving || !rule.pattern} data-testid="rule-save">
          {draft.id ? 'Save rule' : 'Add rule'}
        </button>
        <button onClick={onCancel}>Cancel</button>
      </div>
      <div className="muted rule-help">
        {kind.help}. Patterns are globs (<code>*</code> stops at <code>/</code>, <code>**</code> does not) or regexes
        after <code>regex:</code>.
      </div>
      {error && <ErrorState error={error} />}
    </div>
  );
}

export function RulesEditor({
  draft,
  presets,
  onDraft,
  onChanged,
  onClose,
}: {
  /** The rule in the form, if any (set by the page from a frame's menu). */
  draft: RuleDraft | null;
  /** Every preset's rules (`/presets`), for the preset checkboxes. */
  presets: Record<string, { rules: Rule[] }> | undefined;
  onDraft: (draft: RuleDraft | null) => void;
  /** The saved view changed: views using it must reload. */
  onChanged: () => void;
  onClose: () => void;
}) {
  const [version, setVersion] = useState(0);
  const [error, setError] = useState<Error>();
  const listed = useQuery((signal) => fetchRules(signal), [version]);
  const changed = () => {
    setVersion((v) => v + 1);
    onChanged();
  };
  const run = async (action: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await action();
      changed();
    } catch (caught) {
      setError(caught as Error);
    }
  };

  const stored = listed.data;
  const apiPresets = stored ? stored.presets : [];
  const presetNames = Object.keys(presets ?? {});
  // The listed presets are the config's and the stored ones together (the API
  // does not tell them apart); storing a config preset again changes nothing.
  const togglePreset = (name: string, on: boolean) => {
    const next = on ? [...new Set([...apiPresets, name])] : apiPresets.filter((p) => p !== name);
    void run(() => setStoredPresets(next));
  };

  return (
    <Panel
      title="View rules (saved view)"
      className="rules-editor"
      actions={
        <>
          <button className="primary" onClick={() => onDraft({ rule: { kind: 'hide', pattern: '' } })} data-testid="rule-new">
            New rule
          </button>
          <button onClick={onClose} aria-label="Close rules">
            Close
          </button>
        </>
      }
    >
      <div className="rules-presets">
        <span className="muted">Presets:</span>
        {presetNames.map((name) => (
          <label key={name} className="rules-preset" title={(presets?.[name].rules ?? []).map(describe).join('\n')}>
            <input
              type="checkbox"
              checked={apiPresets.includes(name)}
              onChange={(e) => togglePreset(name, e.target.checked)}
              data-testid={`preset-${name}`}
            />
            {name}
          </label>
        ))}
      </div>
      {error && <ErrorState error={error} />}
      {draft && <RuleForm draft={draft} onSaved={() => (onDraft(null), changed())} onCancel={() => onDraft(null)} />}
      {listed.error && <ErrorState error={listed.error} />}
      {!stored && listed.loading && <Loading />}
      {stored && stored.rules.length === 0 && (
        <div className="muted rules-empty">
          No rules yet. Right-click a frame in the flamegraph to hide, collapse, rename or tag it, or add one with
          New rule.
        </div>
      )}
      {stored && stored.rules.length > 0 && (
        <table className="data rules-table" data-testid="rules-table">
          <thead>
            <tr>
              <th>On</th>
              <th>Kind</th>
              <th>Match</th>
              <th>Pattern</th>
              <th>Result</th>
              <th>Source</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {stored.rules.map((rule: ListedRule, index) => {
              const editable = rule.source === 'api' && !!rule.id;
              return (
                <tr key={rule.id || index}>
                  <td>
                    <input
                      type="checkbox"
                      checked={rule.enabled !== false}
                      disabled={!editable}
                      aria-label="Enabled"
                      onChange={(e) => void run(() => replaceRule(rule.id!, cleanRule({ ...rule, enabled: e.target.checked })))}
                    />
                  </td>
                  <td>{rule.kind}</td>
                  <td>{rule.kind === 'rename' ? 'name' : (rule.field ?? 'any')}</td>
                  <td className="mono">{rule.pattern}</td>
                  <td className="mono">
                    {rule.kind === 'rename' && rule.replacement}
                    {rule.kind !== 'rename' && rule.name}
                    {rule.color && <span className="rules-swatch" style={{ background: rule.color }} />}
                  </td>
                  <td>{rule.source === 'config' ? <span title="vispyr.yaml: edit it there">config</span> : 'saved'}</td>
                  <td className="rules-actions">
                    {editable && (
                      <>
                        <button onClick={() => onDraft({ id: rule.id, rule: cleanRule(rule) })}>Edit</button>
                        <button onClick={() => void run(() => deleteRule(rule.id!))} aria-label={`Delete rule ${rule.id}`}>
                          Delete
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </Panel>
  );
}
