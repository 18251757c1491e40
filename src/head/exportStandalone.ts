/**
 * Joins a backbone ONNX model and a head.onnx into one standalone model: image tensor in,
 * probabilities out, for users who want a single file to run anywhere (no headstart needed).
 *
 * - The backbone is cut at its embedding tensor: nodes, initializers and inputs that only served
 *   other outputs (the ImageNet logits) are dropped.
 * - Every head node, initializer and intermediate value is renamed under `head/`, so nothing can
 *   collide with the backbone's names; the head's input becomes the backbone's embedding tensor.
 * - Opsets: the backbone's imports are kept as they are. Raising its default-domain opset could
 *   change what its ops mean, so the head's ops are checked against the backbone's opset instead
 *   (they mean the same from opset 8 on), which is compatible with max(backbone, head) whenever the
 *   backbone's is the larger.
 */
import { HeadstartError } from '../errors.js';
import { decodeModel, encodeModel, onnx, type ModelProto, type NodeProto, type ValueInfoProto } from '../onnx/graph.js';
import { HEAD_INPUT, HEAD_OP_MIN_OPSET, HEAD_OUTPUT } from './headFormat.js';

export const STANDALONE_PREFIX = 'head/';

export interface StandaloneOptions {
  /** Name of the backbone tensor holding the embedding; 'embedding' for the default backbone. */
  embeddingOutput?: string;
}

/** A model pair that cannot be merged: a HeadstartError with code `standalone_export`. */
function exportError(message: string, context: Record<string, unknown> = {}): HeadstartError {
  return new HeadstartError(message, 'standalone_export', 500, { context });
}

function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'object' && value !== null && 'toNumber' in value) return (value as { toNumber(): number }).toNumber();
  return Number(value ?? 0);
}

const isDefaultDomain = (domain: string | null | undefined): boolean => !domain || domain === 'ai.onnx';

/** Names a node reads, including outer-scope names read inside If/Loop/Scan bodies. */
function nodeReads(node: NodeProto): string[] {
  const reads = [...(node.input ?? [])];
  for (const attribute of node.attribute ?? []) {
    const graphs = [...(attribute.g ? [attribute.g] : []), ...(attribute.graphs ?? [])];
    for (const graph of graphs) for (const inner of graph.node ?? []) reads.push(...nodeReads(inner));
  }
  return reads.filter((name) => name !== '');
}

/** The backbone's nodes needed to compute `target`, in their original (topological) order. */
function nodesFor(nodes: readonly NodeProto[], target: string): NodeProto[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => (n.output ?? []).forEach((o) => producer.set(o, i)));
  const keep = new Set<number>();
  const pending = [target];
  const seen = new Set<string>();
  while (pending.length > 0) {
    const name = pending.pop() as string;
    if (seen.has(name)) continue;
    seen.add(name);
    const index = producer.get(name);
    if (index === undefined || keep.has(index)) continue;
    keep.add(index);
    pending.push(...nodeReads(nodes[index] as NodeProto));
  }
  return nodes.filter((_, i) => keep.has(i));
}

function mergedDefaultOpset(backbone: ModelProto, head: ModelProto): number {
  const backboneOpset = toNumber((backbone.opsetImport ?? []).find((o) => isDefaultDomain(o.domain))?.version);
  for (const opset of head.opsetImport ?? []) {
    if (!isDefaultDomain(opset.domain)) throw exportError(`head uses op domain "${opset.domain}", which the merger does not know`);
  }
  for (const n of head.graph?.node ?? []) {
    const minimum = HEAD_OP_MIN_OPSET[n.opType ?? ''];
    if (minimum === undefined) throw exportError(`head op ${n.opType} is not known to be stable across opsets`, { op: n.opType });
    if (backboneOpset < minimum) {
      throw exportError(`backbone opset ${backboneOpset} is older than head op ${n.opType} needs (${minimum})`, { backboneOpset, op: n.opType });
    }
  }
  return backboneOpset;
}

export function exportStandalone(backboneBytes: Uint8Array, headBytes: Uint8Array, options: StandaloneOptions = {}): Uint8Array {
  const embedding = options.embeddingOutput ?? 'embedding';
  const backbone = decodeModel(backboneBytes);
  const head = decodeModel(headBytes);
  const backboneGraph = backbone.graph;
  const headGraph = head.graph;
  if (!backboneGraph || !headGraph) throw exportError('both models need a graph');
  if (!(headGraph.input ?? []).some((i) => i.name === HEAD_INPUT) || !(headGraph.output ?? []).some((o) => o.name === HEAD_OUTPUT)) {
    throw exportError(`head must map "${HEAD_INPUT}" to "${HEAD_OUTPUT}"`);
  }

  const backboneNodes = nodesFor(backboneGraph.node ?? [], embedding);
  if (!backboneNodes.some((n) => (n.output ?? []).includes(embedding))) {
    throw exportError(`backbone has no tensor named "${embedding}"`, { embeddingOutput: embedding });
  }
  const used = new Set(backboneNodes.flatMap(nodeReads));
  const backboneNames = new Set([...used, ...backboneNodes.flatMap((n) => [...(n.output ?? []), n.name ?? ''])]);
  if (backboneNames.has(HEAD_OUTPUT)) throw exportError(`backbone already has a value named "${HEAD_OUTPUT}"`);

  const rename = (name: string): string => {
    if (name === '') return '';
    if (name === HEAD_INPUT) return embedding;
    if (name === HEAD_OUTPUT) return HEAD_OUTPUT;
    const renamed = `${STANDALONE_PREFIX}${name}`;
    if (backboneNames.has(renamed)) throw exportError(`name collision on "${renamed}"`);
    return renamed;
  };
  const headNodes: NodeProto[] = (headGraph.node ?? []).map((n) => ({
    ...n,
    name: `${STANDALONE_PREFIX}${n.name ?? ''}`,
    input: (n.input ?? []).map(rename),
    output: (n.output ?? []).map(rename),
  }));
  const headInitializers = (headGraph.initializer ?? []).map((t) => ({ ...t, name: rename(t.name ?? '') }));
  const renameInfo = (v: ValueInfoProto): ValueInfoProto => ({ ...v, name: rename(v.name ?? '') });

  const opset = mergedDefaultOpset(backbone, head);
  const opsetImport = (backbone.opsetImport ?? []).map((o) => (isDefaultDomain(o.domain) ? { domain: o.domain ?? '', version: opset } : o));
  const metadata = new Map<string, string>();
  for (const p of [...(backbone.metadataProps ?? []), ...(head.metadataProps ?? [])]) metadata.set(p.key ?? '', p.value ?? '');
  metadata.set('headstart.standalone', 'true');
  metadata.set('headstart.embedding_tensor', embedding);

  const merged = onnx.ModelProto.create({
    irVersion: Math.max(toNumber(backbone.irVersion), toNumber(head.irVersion)),
    producerName: 'headstart',
    producerVersion: head.producerVersion ?? '',
    opsetImport,
    docString: `backbone (${backboneGraph.name ?? 'unnamed'}) cut at "${embedding}" + headstart head: image -> ${HEAD_OUTPUT}`,
    metadataProps: [...metadata].map(([key, value]) => ({ key, value })),
    functions: backbone.functions ?? [],
    graph: {
      name: 'headstart_standalone',
      node: [...backboneNodes, ...headNodes],
      input: (backboneGraph.input ?? []).filter((i) => used.has(i.name ?? '')),
      output: (headGraph.output ?? []).map(renameInfo),
      initializer: [...(backboneGraph.initializer ?? []).filter((t) => used.has(t.name ?? '')), ...headInitializers],
      sparseInitializer: (backboneGraph.sparseInitializer ?? []).filter((t) => used.has(t.values?.name ?? '')),
      valueInfo: [
        ...(backboneGraph.valueInfo ?? []).filter((v) => backboneNames.has(v.name ?? '')),
        ...(headGraph.valueInfo ?? []).map(renameInfo),
      ],
    },
  });
  return encodeModel(merged);
}
