// Text helpers of the SQL console (pages/Sql.tsx).

/** An identifier as SQL, quoted when it is not a plain lower-case name. */
export function sqlIdentifier(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** A long Arrow type (`Map("entries": …)`) cut to its outer name; short ones stay whole. */
export function shortType(type: string): string {
  return type.length <= 22 ? type : type.replace(/\(.*$/s, '(…)');
}

/** A result cell as text: JSON for maps, lists and structs. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
