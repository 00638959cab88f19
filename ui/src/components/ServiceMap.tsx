// The service map: services and their calls from the service-graph series,
// drawn as SVG in columns by call depth (callers left of callees). Edges carry
// rate, error share and median latency; virtual nodes (databases, the `user`
// entry, uninstrumented peers) are drawn apart from instrumented services.
import { useMemo, useState } from 'react';
import { getJson, promInstant, useQuery } from '../lib/api';
import { formatNumber, formatSeconds } from '../lib/format';
import type { GraphEdge, GraphNode, NodeKind, ServiceGraphData, ServiceMapModel } from '../lib/servicemap';
import { errorPercent, serviceGraphQueries, serviceMapModel } from '../lib/servicemap';
import { rangeWindow } from '../lib/promql';
import { useTimeRange } from '../lib/time';
import { Panel, QueryView } from './States';
import './servicemap.css';

const NODE_W = 168;
const NODE_H = 34;
const COLUMN = NODE_W + 150;
const ROW = 58;
const PAD = 24;
/** Past this many nodes a layer wraps into several sub-columns, so a mesh of services stays on screen. */
const MAX_ROWS = 12;
const SUB_COLUMN = NODE_W + 56;
/** Past this many edges, labels only show for the hovered node's edges. */
const MAX_LABELLED_EDGES = 24;

interface GraphAnswer {
  data: ServiceGraphData;
  services: string[];
}

async function loadGraph(range: { from: number; to: number }, signal: AbortSignal): Promise<GraphAnswer> {
  const queries = serviceGraphQueries(rangeWindow(range));
  const instant = (query: string) => promInstant(query, range.to, signal);
  const [requests, failed, latency, services] = await Promise.all([
    instant(queries.requests),
    instant(queries.failed),
    instant(queries.latency),
    getJson<{ services: string[] }>('/api/v1/services', { from: range.from, until: range.to }, signal),
  ]);
  return { data: { requests, failed, latency }, services: services.services };
}

/** The map in a panel, with a selector that narrows it to one service's callers and callees. */
export function ServiceMapPanel({
  focus,
  onFocus,
  onOpenService,
}: {
  focus: string;
  onFocus: (service: string) => void;
  onOpenService: (service: string) => void;
}) {
  const range = useTimeRange();
  const query = useQuery((signal) => loadGraph(range, signal), [range]);
  const answer = query.data;
  const model = useMemo(
    () => (answer ? serviceMapModel(answer.data, answer.services, focus || undefined) : undefined),
    [answer, focus],
  );
  // Every node of the graph, and the focus even when it has no calls in this range.
  const nodeNames = useMemo(() => {
    const names = new Set((answer?.data.requests ?? []).flatMap((v) => [v.metric.client, v.metric.server]));
    if (focus) names.add(focus);
    return [...names].sort();
  }, [answer, focus]);

  return (
    <Panel
      title="Service map"
      className="service-map-panel"
      actions={
        <label className="service-map-focus">
          Focus
          <select value={focus} onChange={(e) => onFocus(e.target.value)} data-testid="service-map-focus">
            <option value="">All services</option>
            {nodeNames.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
      }
    >
      <QueryView
        query={{ ...query, data: model }}
        isEmpty={(m) => m.edges.length === 0}
        empty="No service-graph series in this time range: calls between services show up here once traces with client and server spans arrive."
      >
        {(m) => <ServiceMapView model={m} onOpenService={onOpenService} />}
      </QueryView>
    </Panel>
  );
}

interface Box {
  x: number;
  y: number;
}

/** Pixel positions of the nodes: layers left to right, each centred vertically. */
function placeNodes(layers: GraphNode[][]): { boxes: Map<string, Box>; width: number; height: number } {
  const shapes = layers.map((layer) => {
    const columns = Math.ceil(layer.length / MAX_ROWS);
    return { columns, perColumn: Math.ceil(layer.length / columns) };
  });
  const rows = Math.max(...shapes.map((s) => s.perColumn));
  const boxes = new Map<string, Box>();
  let x = PAD;
  layers.forEach((layer, l) => {
    const { columns, perColumn } = shapes[l];
    layer.forEach((node, i) => {
      const column = Math.floor(i / perColumn);
      const inColumn = Math.min(perColumn, layer.length - column * perColumn);
      const offset = ((rows - inColumn) * ROW) / 2;
      boxes.set(node.id, { x: x + column * SUB_COLUMN, y: PAD + offset + (i % perColumn) * ROW });
    });
    x += (columns - 1) * SUB_COLUMN + COLUMN;
  });
  return {
    boxes,
    width: x - COLUMN + NODE_W + PAD * 2,
    // Room below for the arcs of calls that go back to an earlier column.
    height: PAD * 2 + (rows - 1) * ROW + NODE_H + 40,
  };
}

/** The drawing; hovering a node highlights its calls and labels them. */
export function ServiceMapView({
  model,
  onOpenService,
}: {
  model: ServiceMapModel;
  onOpenService: (service: string) => void;
}) {
  const [hovered, setHovered] = useState<string | null>(null);
  const { layers, edges } = model;
  const { boxes, width, height } = useMemo(() => placeNodes(layers), [layers]);
  const nodes = layers.flat();
  const labelAll = edges.length <= MAX_LABELLED_EDGES;
  const touches = (edge: GraphEdge) => hovered !== null && (edge.client === hovered || edge.server === hovered);

  return (
    <>
      <div className="service-map-scroll">
        <svg
          className={`service-map${hovered ? ' has-hover' : ''}`}
          width={width}
          height={height}
          viewBox={`0 0 ${width} ${height}`}
          data-testid="service-map"
          aria-label="Service map"
        >
          <defs>
            <marker id="sm-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
              <path d="M0,0 L10,5 L0,10 z" className="sm-arrowhead" />
            </marker>
          </defs>
          {edges.map((edge) => (
            <EdgeView
              key={`${edge.client}→${edge.server}`}
              edge={edge}
              from={boxes.get(edge.client)!}
              to={boxes.get(edge.server)!}
              highlighted={touches(edge)}
              showLabel={labelAll || touches(edge)}
            />
          ))}
          {nodes.map((node) => (
            <NodeView
              key={node.id}
              node={node}
              box={boxes.get(node.id)!}
              edges={edges}
              highlighted={hovered === node.id}
              onHover={setHovered}
              onOpen={node.kind === 'service' ? () => onOpenService(node.id) : undefined}
            />
          ))}
        </svg>
      </div>
      <MapLegend />
    </>
  );
}

/** The path of a call and where its label goes. */
function edgeGeometry(from: Box, to: Box, self: boolean): { d: string; labelX: number; labelY: number } {
  if (self) {
    const x = from.x + NODE_W - 24;
    const y = from.y;
    return { d: `M${x},${y} C${x - 6},${y - 30} ${x + 34},${y - 30} ${x + 24},${y}`, labelX: x + 12, labelY: y - 26 };
  }
  if (to.x > from.x) {
    // Forward: right side of the caller to the left side of the callee.
    const x1 = from.x + NODE_W;
    const y1 = from.y + NODE_H / 2;
    const x2 = to.x;
    const y2 = to.y + NODE_H / 2;
    const bend = (x2 - x1) / 2;
    return {
      d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`,
      labelX: (x1 + x2) / 2,
      labelY: (y1 + y2) / 2,
    };
  }
  if (to.x === from.x) {
    // Within a column: a bow out to the right, wider for rows further apart.
    const x = from.x + NODE_W;
    const y1 = from.y + NODE_H / 2 + 5;
    const y2 = to.y + NODE_H / 2 - 5;
    const bow = x + 30 + Math.min(60, Math.abs(y2 - y1) / 6);
    return { d: `M${x},${y1} C${bow},${y1} ${bow},${y2} ${x},${y2}`, labelX: bow - 8, labelY: (y1 + y2) / 2 + 4 };
  }
  // Back to an earlier column: an arc under both nodes.
  const x1 = from.x + NODE_W / 2 + 10;
  const y1 = from.y + NODE_H;
  const x2 = to.x + NODE_W / 2 - 10;
  const y2 = to.y + NODE_H;
  const low = Math.max(y1, y2) + 36;
  return {
    d: `M${x1},${y1} C${x1},${low} ${x2},${low} ${x2},${y2}`,
    labelX: (x1 + x2) / 2,
    labelY: low - 4,
  };
}

function edgeClass(edge: GraphEdge): string {
  const errors = errorPercent(edge);
  return errors >= 5 ? 'error' : errors >= 1 ? 'warn' : 'ok';
}

function EdgeView({
  edge,
  from,
  to,
  highlighted,
  showLabel,
}: {
  edge: GraphEdge;
  from: Box;
  to: Box;
  highlighted: boolean;
  showLabel: boolean;
}) {
  const { d, labelX, labelY } = edgeGeometry(from, to, edge.client === edge.server);
  const errors = errorPercent(edge);
  // Two short lines fit between columns: traffic and errors, then latency.
  const traffic = `${formatNumber(edge.rate, 2)}/s${errors > 0 ? ` · ${formatNumber(errors, 2)}% err` : ''}`;
  const latency = edge.p50 !== undefined ? `p50 ${formatSeconds(edge.p50)}` : '';
  const strokeWidth = 1.2 + Math.min(3.5, Math.log10(1 + edge.rate * 10));
  return (
    <g
      className={`sm-edge ${edgeClass(edge)}${highlighted ? ' highlighted' : ''}${edge.connectionType ? ` type-${edge.connectionType}` : ''}`}
      data-testid="service-map-edge"
      data-client={edge.client}
      data-server={edge.server}
      data-connection-type={edge.connectionType || undefined}
    >
      <title>
        {`${edge.client} → ${edge.server}${edge.connectionType ? ` (${edge.connectionType.replace('_', ' ')})` : ''}\n${traffic}${latency ? ` · ${latency}` : ''}`}
      </title>
      <path d={d} className="sm-edge-hit" />
      <path d={d} className="sm-edge-line" strokeWidth={strokeWidth} markerEnd="url(#sm-arrow)" />
      {showLabel && (
        <text x={labelX} y={labelY - (latency ? 17 : 5)} className="sm-edge-label" textAnchor="middle">
          <tspan>{traffic}</tspan>
          {latency && (
            <tspan x={labelX} dy="1.2em">
              {latency}
            </tspan>
          )}
        </text>
      )}
    </g>
  );
}

const KIND_TITLE: Record<NodeKind, string> = {
  service: 'instrumented service',
  database: 'database',
  user: 'external callers',
  peer: 'uninstrumented service',
};

function truncate(text: string, max = 21): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function NodeView({
  node,
  box,
  edges,
  highlighted,
  onHover,
  onOpen,
}: {
  node: GraphNode;
  box: Box;
  edges: GraphEdge[];
  highlighted: boolean;
  onHover: (id: string | null) => void;
  onOpen?: () => void;
}) {
  const incoming = edges.filter((e) => e.server === node.id && e.client !== node.id);
  const inRate = incoming.reduce((sum, e) => sum + e.rate, 0);
  const tooltip = `${node.id} — ${KIND_TITLE[node.kind]}${incoming.length ? `\n${formatNumber(inRate)} req/s in` : ''}${onOpen ? '\nClick to open its overview' : ''}`;
  const iconSpace = node.kind === 'service' ? 0 : 18;
  return (
    <g
      className={`sm-node kind-${node.kind}${highlighted ? ' highlighted' : ''}${onOpen ? ' clickable' : ''}`}
      transform={`translate(${box.x},${box.y})`}
      data-testid="service-map-node"
      data-node={node.id}
      data-kind={node.kind}
      onMouseEnter={() => onHover(node.id)}
      onMouseLeave={() => onHover(null)}
      onClick={onOpen}
      role={onOpen ? 'link' : undefined}
    >
      <title>{tooltip}</title>
      <rect width={NODE_W} height={NODE_H} rx={node.kind === 'user' ? NODE_H / 2 : node.kind === 'database' ? 3 : 6} />
      {node.kind === 'database' && <DatabaseIcon />}
      {node.kind === 'peer' && <PeerIcon />}
      {node.kind === 'user' && <UserIcon />}
      <text x={(NODE_W + iconSpace) / 2} y={NODE_H / 2} dominantBaseline="central" textAnchor="middle">
        {truncate(node.id, node.kind === 'service' ? 21 : 19)}
      </text>
    </g>
  );
}

function DatabaseIcon() {
  return (
    <g className="sm-icon" transform="translate(9,9)">
      <path d="M0,3 v10 a6,2.5 0 0 0 12,0 v-10" />
      <ellipse cx="6" cy="3" rx="6" ry="2.5" />
    </g>
  );
}

function PeerIcon() {
  return (
    <g className="sm-icon" transform="translate(9,10)">
      <rect width="12" height="14" rx="2" strokeDasharray="2 2" />
    </g>
  );
}

function UserIcon() {
  return (
    <g className="sm-icon" transform="translate(12,8)">
      <circle cx="6" cy="5" r="3.5" />
      <path d="M0,18 a6,6 0 0 1 12,0" />
    </g>
  );
}

function MapLegend() {
  const kinds: NodeKind[] = ['service', 'database', 'peer', 'user'];
  return (
    <div className="service-map-legend muted">
      {kinds.map((kind) => (
        <span key={kind} className={`legend-item kind-${kind}`}>
          <span className="legend-swatch" /> {KIND_TITLE[kind]}
        </span>
      ))}
      <span className="legend-item">
        <span className="legend-line error" /> ≥ 5% errors
      </span>
      <span className="legend-item">edge label: requests/s · error % · median latency</span>
    </div>
  );
}
