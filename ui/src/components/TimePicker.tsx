// The global time picker: quick relative ranges, absolute from/to inputs, the
// auto-refresh interval and a refresh button. Lives in the top bar.
import { useEffect, useState } from 'react';
import { formatTime } from '../lib/format';
import { REFRESH_CHOICES, parseTime, refreshNow, setRange, useTimeRange } from '../lib/time';
import { setParams } from '../lib/url';

const QUICK = [
  ['now-5m', 'Last 5 minutes'],
  ['now-15m', 'Last 15 minutes'],
  ['now-1h', 'Last 1 hour'],
  ['now-6h', 'Last 6 hours'],
  ['now-24h', 'Last 24 hours'],
  ['now-7d', 'Last 7 days'],
];

function describe(rawFrom: string, rawTo: string, from: number, to: number): string {
  if (rawTo === 'now') {
    const quick = QUICK.find(([value]) => value === rawFrom);
    if (quick) return quick[1];
    if (rawFrom.startsWith('now-')) return `Last ${rawFrom.slice(4)}`;
  }
  return `${formatTime(from)} → ${formatTime(to)}`;
}

/** Drawn, not an emoji: emoji fonts are missing on many servers and kiosks. */
function ClockIcon() {
  return (
    <svg width="13" height="13" viewBox="0 0 16 16" aria-hidden="true" style={{ verticalAlign: -2 }}>
      <circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" strokeWidth="1.5" />
      <path d="M8 4.5V8l2.5 1.5" fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinecap="round" />
    </svg>
  );
}

export function TimePicker() {
  const range = useTimeRange();
  const [open, setOpen] = useState(false);
  const [fromText, setFromText] = useState(range.rawFrom);
  const [toText, setToText] = useState(range.rawTo);

  useEffect(() => {
    const show = (raw: string) => (/^\d+$/.test(raw) ? formatTime(Number(raw)) : raw);
    setFromText(show(range.rawFrom));
    setToText(show(range.rawTo));
  }, [range.rawFrom, range.rawTo]);

  const fromValid = parseTime(fromText) !== null;
  const toValid = parseTime(toText) !== null;
  const apply = () => {
    if (!fromValid || !toValid) return;
    const normalise = (text: string) => (text.startsWith('now') ? text : String(parseTime(text)));
    setRange(normalise(fromText), normalise(toText));
    setOpen(false);
  };

  return (
    <div className="time-picker">
      <button className="time-picker-button" onClick={() => setOpen(!open)} data-testid="time-picker">
        <ClockIcon /> {describe(range.rawFrom, range.rawTo, range.from, range.to)}
      </button>
      <select
        aria-label="Auto refresh"
        value={range.refresh}
        onChange={(e) => setParams({ refresh: e.target.value })}
        title="Auto refresh"
      >
        {REFRESH_CHOICES.map((choice) => (
          <option key={choice} value={choice}>
            {choice === '' ? 'Refresh off' : `Every ${choice}`}
          </option>
        ))}
      </select>
      <button onClick={refreshNow} title="Refresh now" aria-label="Refresh now">
        ⟳
      </button>
      {open && (
        <div className="time-picker-popup">
          <div className="time-picker-quick">
            {QUICK.map(([value, label]) => (
              <button
                key={value}
                className={range.rawFrom === value && range.rawTo === 'now' ? 'active' : ''}
                onClick={() => {
                  setRange(value, 'now');
                  setOpen(false);
                }}
              >
                {label}
              </button>
            ))}
          </div>
          <div className="time-picker-absolute">
            <label>
              From
              <input value={fromText} onChange={(e) => setFromText(e.target.value)} className={fromValid ? '' : 'invalid'} />
            </label>
            <label>
              To
              <input value={toText} onChange={(e) => setToText(e.target.value)} className={toValid ? '' : 'invalid'} />
            </label>
            <small>`now-2h`, `2026-11-25 10:00`, or epoch ms</small>
            <button className="primary" onClick={apply} disabled={!fromValid || !toValid}>
              Apply
            </button>
          </div>
        </div>
      )}
    </div>
  );
}
