// Placeholder: filled in by the page's owner.
export default function Profiles() {
  return <div className="state state-empty">Profiles: coming soon.</div>;
}
