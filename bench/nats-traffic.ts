// What crossed nats-server during a measured phase, from its monitoring
// endpoint: the server's totals (/varz) and each cluster node's share (/connz),
// so a cluster's run can say what one delivery costs in NATS messages and bytes.
// A node has two connections (routing `conclave-NODE`, store `conclave NODE`);
// both count towards the node.

export interface NatsCounters {
  /** Messages and bytes published into the server by its clients. */
  inMsgs: number;
  inBytes: number;
  /** Messages and bytes the server delivered to subscribers. */
  outMsgs: number;
  outBytes: number;
}

/** Counters at one moment: the server's, and each node's (published = in, received = out). */
export interface NatsSample {
  server: NatsCounters;
  nodes: Record<string, NatsCounters>;
}

/** What crossed during a phase: the server's totals and each node's. */
export interface NatsTraffic {
  server: NatsCounters;
  nodes: ({ node: string } & NatsCounters)[];
}

interface Varz {
  in_msgs: number;
  in_bytes: number;
  out_msgs: number;
  out_bytes: number;
}

interface Connz {
  connections: (Varz & { name?: string })[];
}

const NODE_CONNECTION = /^conclave[- ](.+)$/;

export async function sampleNats(monitorUrl: string): Promise<NatsSample> {
  const [varz, connz] = await Promise.all([
    fetchJson<Varz>(`${monitorUrl}/varz`),
    fetchJson<Connz>(`${monitorUrl}/connz?limit=4096`),
  ]);
  const nodes: Record<string, NatsCounters> = {};
  for (const connection of connz.connections) {
    const node = NODE_CONNECTION.exec(connection.name ?? '')?.[1];
    if (node === undefined) continue;
    nodes[node] = add(nodes[node] ?? zero(), counters(connection));
  }
  return { server: counters(varz), nodes };
}

export function trafficBetween(before: NatsSample, after: NatsSample): NatsTraffic {
  return {
    server: subtract(after.server, before.server),
    nodes: Object.keys(after.nodes)
      .sort()
      .map((node) => ({ node, ...subtract(after.nodes[node]!, before.nodes[node] ?? zero()) })),
  };
}

async function fetchJson<T>(url: string): Promise<T> {
  const response = await fetch(url).catch((error: Error) => {
    throw new Error(`nats-server's monitoring at ${url}: ${error.message} (--nats-monitor; nats-server -m PORT)`);
  });
  if (!response.ok) throw new Error(`nats-server's monitoring at ${url}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

function counters(from: Varz): NatsCounters {
  return { inMsgs: from.in_msgs, inBytes: from.in_bytes, outMsgs: from.out_msgs, outBytes: from.out_bytes };
}

function zero(): NatsCounters {
  return { inMsgs: 0, inBytes: 0, outMsgs: 0, outBytes: 0 };
}

function add(a: NatsCounters, b: NatsCounters): NatsCounters {
  return { inMsgs: a.inMsgs + b.inMsgs, inBytes: a.inBytes + b.inBytes, outMsgs: a.outMsgs + b.outMsgs, outBytes: a.outBytes + b.outBytes };
}

function subtract(a: NatsCounters, b: NatsCounters): NatsCounters {
  return { inMsgs: a.inMsgs - b.inMsgs, inBytes: a.inBytes - b.inBytes, outMsgs: a.outMsgs - b.outMsgs, outBytes: a.outBytes - b.outBytes };
}
