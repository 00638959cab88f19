// Placeholder: filled in by the page's owner.
export default function Metrics() {
  return <div className="state state-empty">Metrics: coming soon.</div>;
}
