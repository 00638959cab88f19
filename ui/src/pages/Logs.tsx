// Placeholder: filled in by the page's owner.
export default function Logs() {
  return <div className="state state-empty">Logs: coming soon.</div>;
}
