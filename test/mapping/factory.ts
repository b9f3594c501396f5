import type { TraceRecord, Usage } from "../../src/model/index.js";

/** A successful, attributed LangSmith model call; override what a test is about. */
export function traceRecord(overrides: Partial<TraceRecord> = {}): TraceRecord {
  return {
    platform: "langsmith",
    recordId: "run-1",
    traceId: "trace-1",
    parentId: "run-0",
    isModelCall: true,
    name: "ChatOpenAI",
    status: "success",
    error: null,
    startTime: "2025-03-01T10:00:00.000Z",
    endTime: "2025-03-01T10:00:02.500Z",
    modelRequested: "gpt-4o",
    modelExecuted: "gpt-4o",
    provider: "openai",
    usage: usage(),
    usageEstimated: false,
    cacheHit: false,
    cacheHitSignal: null,
    replaySignal: null,
    costTotal: null,
    responseId: null,
    attributes: { tenant_id: "acme" },
    tags: [],
    feature: null,
    userId: null,
    sessionId: null,
    order: null,
    ...overrides,
  };
}

/** Inclusive usage (input contains cacheRead and cacheWrite; output contains reasoning). */
export function usage(overrides: Partial<Usage> = {}): Usage {
  return { input: 1000, output: 200, cacheRead: 0, cacheWrite: 0, reasoning: 0, ...overrides };
}
