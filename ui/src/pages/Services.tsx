// Placeholder: filled in by the page's owner.
export default function Services() {
  return <div className="state state-empty">Services: coming soon.</div>;
}
