// A table of typed attributes (key, OTLP type, value), for spans, events,
// links, resources and log records.
import { type Attributes, formatAttribute, typedAttributes } from '../lib/attributes';
import './attributes.css';

export function AttributeTable({ attributes, testId }: { attributes: Attributes; testId?: string }) {
  const rows = typedAttributes(attributes);
  if (rows.length === 0) return <div className="muted attr-none">none</div>;
  return (
    <table className="attr-table" data-testid={testId}>
      <tbody>
        {rows.map((attribute) => (
          <tr key={attribute.key} data-attr-type={attribute.type}>
            <th scope="row">{attribute.key}</th>
            <td className="attr-type">{attribute.type}</td>
            <td className="attr-value">{formatAttribute(attribute)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
