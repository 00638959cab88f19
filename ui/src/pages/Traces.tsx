// Placeholder: filled in by the page's owner.
export default function Traces() {
  return <div className="state state-empty">Traces: coming soon.</div>;
}
