/**
 * @module The sandbox contract: a local server that answers like Lago (`/lago/api/v1/...`) and
 * OpenMeter Cloud (`/openmeter/api/...`) closely enough that the official SDKs, our sinks, the
 * demo and the integration tests can run against it. Behaviour follows the vendors' contracts
 * and the facts in shared/reference (lago.md, openmeter.md), not our client's habits: batches are
 * all-or-nothing on Lago, content types are compared exactly on OpenMeter, duplicates are stored
 * on OpenMeter unless dedupe is switched on, and faults are injected on the wire.
 */
import type { UsageTotal } from "../model/index.js";

export type LagoSubscriptionStatus = "active" | "pending" | "terminated" | "canceled";
export type LagoAggregation = "sum_agg" | "count_agg" | "max_agg" | "latest_agg";
export type MeterAggregation = "SUM" | "COUNT" | "AVG" | "MIN" | "MAX" | "UNIQUE_COUNT" | "LATEST";

/** What exists before the first event arrives. Field names follow each vendor's API. */
export interface SandboxSeed {
  lago?: {
    customers?: {
      external_id: string;
      name?: string;
      subscriptions?: {
        external_id: string;
        plan_code: string;
        status?: LagoSubscriptionStatus;
        /** ISO-8601; defaults to 2000-01-01, long before any test event. */
        started_at?: string;
      }[];
    }[];
    billable_metrics?: { code: string; name?: string; aggregation_type: LagoAggregation; field_name?: string | null }[];
  };
  openmeter?: {
    meters?: {
      slug: string;
      name?: string;
      eventType: string;
      aggregation: MeterAggregation;
      /** JSONPath such as "$.value"; forbidden for COUNT, required otherwise (as OpenMeter validates). */
      valueProperty?: string;
      groupBy?: Record<string, string>;
    }[];
  };
}

export type FaultKind = "status5xx" | "html502" | "status429" | "reset" | "acceptThen500" | "acceptThenReset";

/**
 * Faults for one destination. Probabilities are in [0, 1] and are checked in the order of
 * FaultKind against ONE draw of the seeded RNG per eligible request, so their sum should be ≤ 1.
 */
export interface DestinationFaults {
  /** Answer 503 with the vendor's JSON error body. */
  status5xx?: number;
  /** Answer 502 with an HTML body, as a proxy in front of the vendor would. */
  html502?: number;
  /** Lago: 429 with X-RateLimit-Limit/Remaining/Reset; OpenMeter: 429 problem+json with Retry-After. */
  status429?: number;
  /** Destroy the socket without answering (after reading the request). */
  reset?: number;
  /**
   * Do the work, then answer 500. Lago commits the whole batch (a timeout after commit looks
   * like this); OpenMeter stores the first half of a valid batch (its handler forwards events
   * one by one and stops at the first failure).
   */
  acceptThen500?: number;
  /**
   * Do all the work, then destroy the socket without answering: the connection died on the way
   * back. Lago commits the whole batch, OpenMeter stores every event of a valid batch.
   */
  acceptThenReset?: number;
  /** Delay every eligible request by this many milliseconds before answering. */
  slowMs?: number;
  /** Seconds announced by 429 answers (Lago X-RateLimit-Reset, OpenMeter Retry-After). Default 1. */
  retryAfterSeconds?: number;
  /** Which requests are eligible: "ingest" (default; POST of events) or "all" API requests. */
  scope?: "ingest" | "all";
  /** Stop injecting after this many faults (e.g. 1 = fail once, then recover). Unlimited by default. */
  limit?: number;
}

export interface FaultPlan {
  /** RNG seed; the same seed and the same request sequence give the same faults. Default 1. */
  seed?: number;
  lago?: DestinationFaults;
  openmeter?: DestinationFaults;
}

export interface SandboxOptions {
  /** 0 (default) picks a free port. The server always binds 127.0.0.1. */
  port?: number;
  /** Bearer key Lago requests must carry. Default "lago_sandbox_key". */
  lagoApiKey?: string;
  /** Bearer key OpenMeter requests must carry. Default "om_sandbox_key". */
  openmeterApiKey?: string;
  seed?: SandboxSeed;
  faults?: FaultPlan;
  /** Drop events whose source+id was already stored (OpenMeter Cloud). Default false, like self-hosted OpenMeter. */
  openmeterDedupe?: boolean;
  /**
   * Milliseconds (wall clock) between OpenMeter storing an event and the event showing up in
   * GET /api/v2/events and meter queries, as Kafka and the sink worker delay it on a real server
   * (a flush at most every 2 s by default, openmeter.md §3). Default 0: listable at once.
   */
  openmeterListLagMs?: number;
  /** Events per Lago batch (LAGO_EVENTS_BATCH_MAX_LENGTH). Default 100. */
  lagoBatchMax?: number;
  /** Clock for defaults (missing timestamps) and the current billing period. */
  now?: () => Date;
}

/** A Lago event as stored (Postgres store semantics). */
export interface LagoStoredEvent {
  transaction_id: string;
  external_subscription_id: string;
  code: string;
  /** ISO-8601 with milliseconds. */
  timestamp: string;
  properties: Record<string, unknown>;
  precise_total_amount_cents: string | null;
  created_at: string;
}

/** An OpenMeter event as stored: time truncated to the second, like OpenMeter's storage. */
export interface OpenMeterStoredEvent {
  id: string;
  source: string;
  specversion: string;
  type: string;
  subject: string;
  /** RFC 3339 at second precision. */
  time: string;
  data: Record<string, unknown> | null;
  ingestedAt: string;
}

export interface RequestRecord {
  destination: "lago" | "openmeter";
  method: string;
  /** Path below the API root: "/events/batch" (Lago, below /api/v1) or "/api/v1/events" (OpenMeter). */
  path: string;
  /** HTTP status answered, or "reset" when the socket was destroyed. */
  status: number | "reset";
  /** The Content-Type header exactly as received. */
  contentType: string | null;
  fault: FaultKind | null;
  /** Events in the body of an ingest request, 0 otherwise. */
  events: number;
}

/** What GET /_sandbox/state answers. */
export interface SandboxCounts {
  lago: { events: number; requests: number; byRoute: Record<string, number>; faults: Partial<Record<FaultKind, number>>; duplicatesRefused: number };
  openmeter: {
    events: number;
    requests: number;
    byRoute: Record<string, number>;
    faults: Partial<Record<FaultKind, number>>;
    /** Stored events whose source+id was stored before (dedupe off). */
    duplicatesStored: number;
    /** Events dropped because their source+id was already stored (dedupe on). */
    duplicatesDropped: number;
  };
}

/** Inspection helpers for tests and the demo. Everything returned is a copy. */
export interface SandboxState {
  lagoEvents(): LagoStoredEvent[];
  openmeterEvents(): OpenMeterStoredEvent[];
  /**
   * Per customer (through the subscription; "" when unknown) × code × properties.model ("" when absent):
   * sum of the metric's field_name ("value" for unknown codes) and event count.
   */
  lagoTotals(): UsageTotal[];
  /** Per subject × type × data.model: sum of the first SUM meter's valueProperty for the type ("$.value" otherwise). */
  openmeterTotals(): UsageTotal[];
  requests(filter?: { destination?: "lago" | "openmeter"; method?: string; path?: string }): RequestRecord[];
  counts(): SandboxCounts;
}

export interface Sandbox {
  /** http://127.0.0.1:<port> */
  url: string;
  /** The Lago API root as Lago documents it (url + "/lago"); the SDK base is lagoApiUrl + "/api/v1". */
  lagoApiUrl: string;
  /** The OpenMeter base URL for the SDK (url + "/openmeter"). */
  openmeterUrl: string;
  lagoApiKey: string;
  openmeterApiKey: string;
  state: SandboxState;
  /** Replaces the fault plan and restarts the RNG and the fault limits. */
  setFaults(faults: FaultPlan): void;
  /** Forgets stored events, request counts and faults; keeps the seed. */
  reset(): void;
  /**
   * Test-only: forgets the stored events with these ids (Lago transaction_id, OpenMeter id), as if
   * the destination had lost them, so a re-send is accepted again. Returns how many were removed.
   */
  deleteEvents(destination: "lago" | "openmeter", ids: string[]): number;
  stop(): Promise<void>;
}
