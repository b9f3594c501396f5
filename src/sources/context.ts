import type { Platform, TraceRecord } from "../model/index.js";
import { featureOf, unionTags } from "./attributes.js";
import type { ContextFacts, TraceContext } from "./source.js";

/** Chain runs / CHAIN observations whose direct model-call children are ordered fallback attempts. */
export const FALLBACK_CHAIN_NAMES: ReadonlySet<string> = new Set(["RunnableWithFallbacks"]);

interface Attempt {
  order: string | null;
  model: string | null;
}

/**
 * The small per-trace index built in the first pass over every input, so inputs can come in
 * any order (a Langfuse traces export before or after its observations). It holds one context
 * per trace and one entry per parent of a model call, never the records themselves.
 */
export class ContextIndex {
  private readonly traces = new Map<string, TraceContext>();
  private readonly fallbackChains = new Set<string>();
  /** Earliest model-call child per parent; pruned to fallback chains by seal(). */
  private readonly firstAttempts = new Map<string, Attempt>();

  add(platform: Platform, facts: ContextFacts): void {
    if (facts.trace) this.addTrace(platform, facts.trace);
    const node = facts.node;
    if (!node) return;
    if (!node.isModelCall && FALLBACK_CHAIN_NAMES.has(node.name)) this.fallbackChains.add(key(platform, node.recordId));
    if (node.isModelCall && node.parentId !== null) {
      const parent = key(platform, node.parentId);
      const attempt = { order: node.order ?? node.startTime, model: node.modelRequested ?? node.modelExecuted };
      const seen = this.firstAttempts.get(parent);
      if (!seen || isEarlier(attempt.order, seen.order)) this.firstAttempts.set(parent, attempt);
    }
  }

  /** Call once every input has been added: drops what the second pass does not need. */
  seal(): void {
    for (const parent of this.firstAttempts.keys()) {
      if (!this.fallbackChains.has(parent)) this.firstAttempts.delete(parent);
    }
  }

  /**
   * Own values first, then the trace's: attributes (own keys win), tags (union), user and
   * session when missing; `modelRequested` = the first attempt's model under a fallback chain.
   */
  apply(record: TraceRecord): TraceRecord {
    const ctx = this.traces.get(key(record.platform, record.traceId));
    const attributes = ctx ? { ...ctx.attributes, ...record.attributes } : record.attributes;
    let modelRequested = record.modelRequested;
    if (record.isModelCall && record.parentId !== null) {
      const first = this.firstAttempts.get(key(record.platform, record.parentId));
      if (first?.model) modelRequested = first.model;
    }
    return {
      ...record,
      attributes,
      tags: ctx ? unionTags(record.tags, ctx.tags) : record.tags,
      userId: record.userId ?? ctx?.userId ?? null,
      sessionId: record.sessionId ?? ctx?.sessionId ?? null,
      feature: featureOf(attributes),
      modelRequested,
    };
  }

  private addTrace(platform: Platform, ctx: TraceContext): void {
    const k = key(platform, ctx.traceId);
    const seen = this.traces.get(k);
    // The same trace can appear twice (overlapping export windows): keep what either copy said.
    this.traces.set(
      k,
      seen
        ? {
            ...ctx,
            attributes: { ...seen.attributes, ...ctx.attributes },
            tags: unionTags(ctx.tags, seen.tags),
            userId: ctx.userId ?? seen.userId,
            sessionId: ctx.sessionId ?? seen.sessionId,
            name: ctx.name ?? seen.name,
          }
        : ctx,
    );
  }
}

/** The context a root record hands down to the rest of its trace. */
export function traceContextOf(record: TraceRecord): TraceContext {
  return {
    traceId: record.traceId,
    attributes: record.attributes,
    tags: record.tags,
    userId: record.userId,
    sessionId: record.sessionId,
    name: record.name || null,
  };
}

function key(platform: Platform, id: string): string {
  return `${platform}\u0000${id}`;
}

/** Unknown order sorts last: an attempt without a timestamp cannot claim to be first. */
function isEarlier(a: string | null, b: string | null): boolean {
  if (a === null) return false;
  if (b === null) return true;
  return a < b;
}
