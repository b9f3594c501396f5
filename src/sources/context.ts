import type { Platform, TraceRecord } from "../model/index.js";
import { featureOf, unionTags } from "./attributes.js";
import type { ContextFacts, TraceContext } from "./source.js";

/** Chain runs / CHAIN observations whose direct model-call children are ordered fallback attempts. */
export const FALLBACK_CHAIN_NAMES: ReadonlySet<string> = new Set(["RunnableWithFallbacks"]);

export interface Attempt {
  order: string | null;
  model: string | null;
}

/** A record after the join, and whether its trace's context (root run / Langfuse trace) was known. */
export interface Joined {
  record: TraceRecord;
  contextFound: boolean;
}

/**
 * Where the join keeps what the first pass learned: one context per trace, the fallback chains,
 * and the first attempt under each parent of a model call. In memory for one read (preview), in
 * Redis with a TTL for the worker, so a traces file and its observations join across files and
 * jobs in either order. Batched: one round trip per page of records.
 */
export interface ContextStore {
  add(platform: Platform, facts: ContextFacts[]): Promise<void>;
  apply(records: TraceRecord[]): Promise<Joined[]>;
}

/** What the join needs to know about one record, fetched in a batch by the store. */
export interface Known {
  trace: TraceContext | undefined;
  /** The first attempt's model when the record's parent is a fallback chain. */
  firstAttempt: Attempt | undefined;
}

/**
 * Own values first, then the trace's: attributes (own keys win), tags (union), user and session
 * when missing; `modelRequested` = the first attempt's model under a fallback chain.
 */
export function join(record: TraceRecord, known: Known): Joined {
  const ctx = known.trace;
  const attributes = ctx ? { ...ctx.attributes, ...record.attributes } : record.attributes;
  const modelRequested = record.isModelCall && known.firstAttempt?.model ? known.firstAttempt.model : record.modelRequested;
  return {
    record: {
      ...record,
      attributes,
      tags: ctx ? unionTags(record.tags, ctx.tags) : record.tags,
      userId: record.userId ?? ctx?.userId ?? null,
      sessionId: record.sessionId ?? ctx?.sessionId ?? null,
      feature: featureOf(attributes),
      modelRequested,
    },
    // A root run is its own trace context.
    contextFound: ctx !== undefined || record.recordId === record.traceId,
  };
}

/** The same trace can be described twice (overlapping export windows): keep what either copy said. */
export function mergeContexts(seen: TraceContext | undefined, ctx: TraceContext): TraceContext {
  if (!seen) return ctx;
  return {
    ...ctx,
    attributes: { ...seen.attributes, ...ctx.attributes },
    tags: unionTags(ctx.tags, seen.tags),
    userId: ctx.userId ?? seen.userId,
    sessionId: ctx.sessionId ?? seen.sessionId,
    name: ctx.name ?? seen.name,
  };
}

/** The attempt a model-call node contributes to its parent's "first attempt". */
export function attemptOf(node: TraceRecord): Attempt {
  return { order: node.order ?? node.startTime, model: node.modelRequested ?? node.modelExecuted };
}

/**
 * The in-memory store for one read (preview and tests): holds one context per trace and one
 * entry per parent of a model call, never the records themselves.
 */
export class ContextIndex implements ContextStore {
  private readonly traces = new Map<string, TraceContext>();
  private readonly fallbackChains = new Set<string>();
  private readonly firstAttempts = new Map<string, Attempt>();

  async add(platform: Platform, facts: ContextFacts[]): Promise<void> {
    for (const f of facts) this.addOne(platform, f);
  }

  addOne(platform: Platform, facts: ContextFacts): void {
    if (facts.trace) {
      const k = key(platform, facts.trace.traceId);
      this.traces.set(k, mergeContexts(this.traces.get(k), facts.trace));
    }
    const node = facts.node;
    if (!node) return;
    if (!node.isModelCall && FALLBACK_CHAIN_NAMES.has(node.name)) this.fallbackChains.add(key(platform, node.recordId));
    if (node.isModelCall && node.parentId !== null) {
      const parent = key(platform, node.parentId);
      const attempt = attemptOf(node);
      const seen = this.firstAttempts.get(parent);
      if (!seen || isEarlier(attempt.order, seen.order)) this.firstAttempts.set(parent, attempt);
    }
  }

  async apply(records: TraceRecord[]): Promise<Joined[]> {
    return records.map((r) => this.applyOne(r));
  }

  applyOne(record: TraceRecord): Joined {
    const parent = record.parentId === null ? undefined : key(record.platform, record.parentId);
    return join(record, {
      trace: this.traces.get(key(record.platform, record.traceId)),
      firstAttempt: parent && this.fallbackChains.has(parent) ? this.firstAttempts.get(parent) : undefined,
    });
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
export function isEarlier(a: string | null, b: string | null): boolean {
  if (a === null) return false;
  if (b === null) return true;
  return a < b;
}
