// Placeholder: filled in by the page's owner.
export default function Sql() {
  return <div className="state state-empty">Sql: coming soon.</div>;
}
