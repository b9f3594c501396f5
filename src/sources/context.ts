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
  /**
   * Every fact of the read is in (the first pass is over): a store that serves this read only
   * may drop what no record can use any more.
   */
  factsComplete?(): void;
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
  // One map per platform and kind, keyed by the bare id: no composite key string to build and
  // hash per fact and per lookup.
  private readonly byPlatform = new Map<Platform, PlatformIndex>();

  async add(platform: Platform, facts: ContextFacts[]): Promise<void> {
    for (const f of facts) this.addOne(platform, f);
  }

  addOne(platform: Platform, facts: ContextFacts): void {
    const trace = facts.trace;
    const node = facts.node;
    if (!trace && !node) return;
    const ix = this.indexOf(platform);
    if (trace) ix.traces.set(trace.traceId, mergeContexts(ix.traces.get(trace.traceId), trace));
    if (!node) return;
    if (!node.isModelCall && FALLBACK_CHAIN_NAMES.has(node.name)) ix.fallbackChains.add(node.recordId);
    if (node.isModelCall && node.parentId !== null) {
      const attempt = attemptOf(node);
      const seen = ix.firstAttempts.get(node.parentId);
      if (!seen || isEarlier(attempt.order, seen.order)) ix.firstAttempts.set(node.parentId, attempt);
    }
  }

  async apply(records: TraceRecord[]): Promise<Joined[]> {
    return records.map((r) => this.applyOne(r));
  }

  /**
   * First attempts count only under a fallback chain; every parent of a model call has one, so
   * once no chain can still turn up, the others go (a third of the index on chain-free traces).
   */
  factsComplete(): void {
    for (const ix of this.byPlatform.values()) {
      for (const parent of ix.firstAttempts.keys()) if (!ix.fallbackChains.has(parent)) ix.firstAttempts.delete(parent);
    }
  }

  applyOne(record: TraceRecord): Joined {
    const ix = this.byPlatform.get(record.platform);
    const parent = record.parentId;
    return join(record, {
      trace: ix?.traces.get(record.traceId),
      firstAttempt: ix && parent !== null && ix.fallbackChains.has(parent) ? ix.firstAttempts.get(parent) : undefined,
    });
  }

  private indexOf(platform: Platform): PlatformIndex {
    let ix = this.byPlatform.get(platform);
    if (!ix) this.byPlatform.set(platform, (ix = { traces: new Map(), fallbackChains: new Set(), firstAttempts: new Map() }));
    return ix;
  }
}

/** What the in-memory store keeps for one platform, keyed by trace / record / parent id. */
interface PlatformIndex {
  traces: Map<string, TraceContext>;
  fallbackChains: Set<string>;
  firstAttempts: Map<string, Attempt>;
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

/** Unknown order sorts last: an attempt without a timestamp cannot claim to be first. */
export function isEarlier(a: string | null, b: string | null): boolean {
  if (a === null) return false;
  if (b === null) return true;
  return a < b;
}
