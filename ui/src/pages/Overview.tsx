// Placeholder: filled in by the page's owner.
export default function Overview() {
  return <div className="state state-empty">Overview: coming soon.</div>;
}
