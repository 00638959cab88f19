// The service map's model and layout: edges from the service-graph series
// (Tempo metrics-generator names, written by crates/connectors), node kinds
// (instrumented service, database, user, uninstrumented peer) and a layered
// layout by call depth — callers left of callees — with no layout library.
import type { PromVector } from './api';

export const SERVICE_GRAPH = {
  requests: 'traces_service_graph_request_total',
  failed: 'traces_service_graph_request_failed_total',
  serverSeconds: 'traces_service_graph_request_server_seconds_bucket',
};

/** The connector's `connection_type` values (empty for a plain paired call). */
export type ConnectionType = '' | 'database' | 'messaging_system' | 'virtual_node';

export interface GraphEdge {
  client: string;
  server: string;
  connectionType: ConnectionType;
  /** Requests per second. */
  rate: number;
  /** Failed requests per second. */
  failedRate: number;
  /** Median server latency in seconds, when known. */
  p50?: number;
}

export type NodeKind = 'service' | 'database' | 'user' | 'peer';

export interface LayoutNode {
  id: string;
  /** Column: 0 for entry points, callees right of their callers. */
  layer: number;
  /** Row within the layer. */
  index: number;
}

export interface GraphNode extends LayoutNode {
  kind: NodeKind;
}

/** The instant-query results a map is built from. */
export interface ServiceGraphData {
  requests: PromVector[];
  failed: PromVector[];
  latency: PromVector[];
}

const edgeKey = (client: string, server: string) => `${client}\u0000${server}`;

/** Which connection type names an edge seen under several (strongest first). */
const TYPE_PRIORITY: ConnectionType[] = ['database', 'messaging_system', 'virtual_node', ''];

/**
 * One edge per client → server pair: rates summed over connection types (a
 * pair can be both paired and virtual); `latency` is expected per pair.
 */
export function buildEdges({ requests, failed, latency }: ServiceGraphData): GraphEdge[] {
  const edges = new Map<string, GraphEdge>();
  for (const { metric, value } of requests) {
    const { client, server } = metric;
    if (!client || !server) continue;
    const rate = Number(value[1]);
    if (!Number.isFinite(rate)) continue;
    const type = (metric.connection_type ?? '') as ConnectionType;
    const key = edgeKey(client, server);
    const edge = edges.get(key);
    if (!edge) {
      edges.set(key, { client, server, connectionType: type, rate, failedRate: 0 });
    } else {
      edge.rate += rate;
      if (TYPE_PRIORITY.indexOf(type) < TYPE_PRIORITY.indexOf(edge.connectionType)) edge.connectionType = type;
    }
  }
  for (const { metric, value } of failed) {
    const edge = edges.get(edgeKey(metric.client, metric.server));
    const rate = Number(value[1]);
    if (edge && Number.isFinite(rate)) edge.failedRate += rate;
  }
  for (const { metric, value } of latency) {
    const edge = edges.get(edgeKey(metric.client, metric.server));
    const seconds = Number(value[1]);
    if (edge && Number.isFinite(seconds)) edge.p50 = seconds;
  }
  return [...edges.values()].sort((a, b) => a.client.localeCompare(b.client) || a.server.localeCompare(b.server));
}

/**
 * Node kinds: a name with spans of its own (`services`), or at either end of a
 * plain or messaging edge, is an instrumented service; the other nodes are
 * virtual — databases (ends of `database` edges), `user` (the caller of root
 * spans) or uninstrumented peers.
 */
export function nodeKinds(edges: GraphEdge[], services: Iterable<string>): Map<string, NodeKind> {
  const instrumented = new Set(services);
  for (const edge of edges) {
    if (edge.connectionType === '' || edge.connectionType === 'messaging_system') {
      instrumented.add(edge.client);
      instrumented.add(edge.server);
    }
    if (edge.connectionType === 'database') instrumented.add(edge.client);
  }
  const kinds = new Map<string, NodeKind>();
  const called = new Set(edges.map((e) => e.server));
  for (const edge of edges) {
    for (const name of [edge.client, edge.server]) {
      if (kinds.has(name)) continue;
      if (instrumented.has(name)) kinds.set(name, 'service');
      else if (edges.some((e) => e.server === name && e.connectionType === 'database')) kinds.set(name, 'database');
      else if (name === 'user' && !called.has(name)) kinds.set(name, 'user');
      else kinds.set(name, 'peer');
    }
  }
  return kinds;
}

/** The edges that touch `focus` (its callers and callees), or all edges without a focus. */
export function neighbourhood(edges: GraphEdge[], focus: string | undefined): GraphEdge[] {
  if (!focus) return edges;
  return edges.filter((e) => e.client === focus || e.server === focus);
}

/**
 * Layered layout by call depth: each node one layer right of its deepest
 * caller. Calls that close a cycle cannot all count, so services that call
 * each other in a cycle (a strongly connected component) are layered by their
 * shortest call depth from where the cycle is entered; between components the
 * longest path counts. An acyclic system gets the plain longest-path layering,
 * and a densely meshed one stays a few layers wide instead of becoming one
 * long chain. Rows are then ordered by their neighbours' mean row.
 */
export function layoutGraph(names: string[], edges: { client: string; server: string }[]): LayoutNode[][] {
  const sorted = [...new Set(names)].sort();
  const successors = new Map<string, string[]>(sorted.map((n) => [n, []]));
  for (const { client, server } of edges) {
    if (client === server || !successors.has(client) || !successors.has(server)) continue;
    successors.get(client)!.push(server);
  }
  const component = stronglyConnected(sorted, successors);

  // Shortest depth inside each component from its entries: the members called
  // from outside it, else (a cycle nothing calls) its alphabetically first member.
  const entries = new Map<number, string[]>();
  for (const node of sorted) {
    for (const next of successors.get(node)!) {
      const c = component.get(next)!;
      if (c !== component.get(node)) entries.set(c, [...(entries.get(c) ?? []), next]);
    }
  }
  const local = new Map<string, number>();
  for (const node of sorted) {
    const c = component.get(node)!;
    if (!entries.has(c)) entries.set(c, [node]);
  }
  entries.forEach((starts, c) => {
    const queue = [...new Set(starts)];
    queue.forEach((n) => local.set(n, 0));
    while (queue.length) {
      const node = queue.shift()!;
      for (const next of successors.get(node)!) {
        if (component.get(next) !== c || local.has(next)) continue;
        local.set(next, local.get(node)! + 1);
        queue.push(next);
      }
    }
  });

  // The calls that count: between components, or deeper inside one. No cycle
  // is left: components form a DAG and depth grows inside each.
  const forward = new Map<string, string[]>(sorted.map((n) => [n, []]));
  for (const node of sorted) {
    for (const next of successors.get(node)!) {
      if (component.get(next) !== component.get(node) || local.get(next)! > local.get(node)!) {
        forward.get(node)!.push(next);
      }
    }
  }

  // Longest path over those calls, in topological order (Kahn).
  const layer = new Map<string, number>(sorted.map((n) => [n, 0]));
  const remaining = new Map<string, number>(sorted.map((n) => [n, 0]));
  forward.forEach((nexts) => nexts.forEach((n) => remaining.set(n, remaining.get(n)! + 1)));
  const queue = sorted.filter((n) => remaining.get(n) === 0);
  while (queue.length) {
    const node = queue.shift()!;
    for (const next of forward.get(node)!) {
      layer.set(next, Math.max(layer.get(next)!, layer.get(node)! + 1));
      remaining.set(next, remaining.get(next)! - 1);
      if (remaining.get(next) === 0) queue.push(next);
    }
  }

  const depth = Math.max(0, ...layer.values());
  const layers: string[][] = Array.from({ length: depth + 1 }, () => []);
  for (const node of sorted) layers[layer.get(node)!].push(node);

  orderLayers(layers, edges);
  return layers.map((nodes, l) => nodes.map((id, index) => ({ id, layer: l, index })));
}

/** Tarjan's strongly connected components: a component number per node. */
function stronglyConnected(nodes: string[], successors: Map<string, string[]>): Map<string, number> {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const component = new Map<string, number>();
  let counter = 0;
  let components = 0;
  const visit = (node: string) => {
    index.set(node, counter);
    low.set(node, counter);
    counter++;
    stack.push(node);
    onStack.add(node);
    for (const next of successors.get(node)!) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.set(member, components);
      } while (member !== node);
      components++;
    }
  };
  for (const node of nodes) if (!index.has(node)) visit(node);
  return component;
}

/** Barycentre ordering: sweeps right then left, each row sorted by its neighbours' mean row. */
function orderLayers(layers: string[][], edges: { client: string; server: string }[]): void {
  const neighbours = new Map<string, string[]>();
  const link = (a: string, b: string) => {
    if (!neighbours.has(a)) neighbours.set(a, []);
    neighbours.get(a)!.push(b);
  };
  for (const { client, server } of edges) {
    if (client === server) continue;
    link(client, server);
    link(server, client);
  }
  const row = new Map<string, number>();
  const index = () => layers.forEach((nodes) => nodes.forEach((n, i) => row.set(n, i)));
  index();
  const layerOf = new Map<string, number>();
  layers.forEach((nodes, l) => nodes.forEach((n) => layerOf.set(n, l)));

  const sweep = (l: number, towards: number) => {
    const score = (node: string) => {
      const rows = (neighbours.get(node) ?? []).filter((n) => layerOf.get(n) === towards).map((n) => row.get(n)!);
      return rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : row.get(node)!;
    };
    const scores = new Map(layers[l].map((n) => [n, score(n)]));
    layers[l].sort((a, b) => scores.get(a)! - scores.get(b)! || a.localeCompare(b));
    layers[l].forEach((n, i) => row.set(n, i));
  };
  for (let pass = 0; pass < 4; pass++) {
    for (let l = 1; l < layers.length; l++) sweep(l, l - 1);
    for (let l = layers.length - 2; l >= 0; l--) sweep(l, l + 1);
  }
}

/** A map ready to draw: laid-out nodes with their kinds, and the edges among them. */
export interface ServiceMapModel {
  layers: GraphNode[][];
  edges: GraphEdge[];
}

export function serviceMapModel(data: ServiceGraphData, services: string[], focus?: string): ServiceMapModel {
  const all = buildEdges(data);
  const kinds = nodeKinds(all, services);
  const edges = neighbourhood(all, focus);
  const names = edges.flatMap((e) => [e.client, e.server]);
  const layers = layoutGraph(names, edges).map((nodes) =>
    nodes.map((node) => ({ ...node, kind: kinds.get(node.id) ?? 'peer' })),
  );
  return { layers, edges };
}

/** An edge's error share in percent (0 without traffic). */
export function errorPercent(edge: Pick<GraphEdge, 'rate' | 'failedRate'>): number {
  return edge.rate > 0 ? (100 * edge.failedRate) / edge.rate : 0;
}

/** The instant queries of a map over `window`: requests and failures per pair and type, median latency per pair. */
export function serviceGraphQueries(window: string): Record<keyof ServiceGraphData, string> {
  return {
    requests: `sum by (client, server, connection_type) (rate(${SERVICE_GRAPH.requests}[${window}]))`,
    failed: `sum by (client, server) (rate(${SERVICE_GRAPH.failed}[${window}]))`,
    latency: `histogram_quantile(0.5, sum by (client, server, le) (rate(${SERVICE_GRAPH.serverSeconds}[${window}])))`,
  };
}
