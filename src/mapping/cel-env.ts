/**
 * @module The CEL world a mapping sees: the typed `record` (and `customer`), nothing else —
 * no environment, files or host functions. Also the conversions at its boundary: this CEL
 * library represents ints as BigInt, and absent fields must be *absent*, not null.
 */
import { Environment, Optional } from "@marcbachmann/cel-js";
import type { CallText, TraceRecord, Usage } from "../model/index.js";
import type { CelKind } from "./schema.js";

// Token counts are CEL ints so `record.usage.output * 2` stays integer arithmetic;
// `double(record.usage.input) * 1.5` is the explicit way to scale them.
const USAGE_FIELDS = {
  input: "int",
  output: "int",
  cacheRead: "int",
  cacheWrite: "int",
  reasoning: "int",
} as const satisfies Record<keyof Usage, string>;

const TEXT_FIELDS = { input: "string", output: "string" } as const satisfies Record<keyof CallText, string>;

/** `satisfies` makes adding a TraceRecord field without exposing it here a compile error. */
const RECORD_FIELDS = {
  platform: "string",
  recordId: "string",
  traceId: "string",
  parentId: "string",
  isModelCall: "bool",
  name: "string",
  status: "string",
  error: "string",
  startTime: "string",
  endTime: "string",
  modelRequested: "string",
  modelExecuted: "string",
  provider: "string",
  usage: "Usage",
  usageEstimated: "bool",
  cacheHit: "bool",
  cacheHitSignal: "string",
  replaySignal: "string",
  costTotal: "double",
  responseId: "string",
  attributes: "map<string, dyn>",
  tags: "list<string>",
  feature: "string",
  userId: "string",
  sessionId: "string",
  order: "string",
  text: "CallText",
  structured: "map<string, dyn>",
} as const satisfies Record<keyof TraceRecord, string>;

/** One line per field for the generated reference; `satisfies` keeps it complete. */
const RECORD_FIELD_DOCS = {
  platform: "`langsmith` or `langfuse`.",
  recordId: "LangSmith run id / Langfuse observation id.",
  traceId: "Trace id.",
  parentId: "Parent run / observation id; absent on a root.",
  isModelCall: "A real model invocation (LangSmith llm/embedding run, Langfuse GENERATION/EMBEDDING); chains and roots carry rolled-up totals.",
  name: "Run / observation name, e.g. ChatOpenAI.",
  status: "`success`, `error` or `pending`.",
  error: "Error text of a failed call.",
  startTime: "ISO-8601 UTC.",
  endTime: "ISO-8601 UTC; the usage time of the events (start time when absent).",
  modelRequested: "Model the application asked for (the first attempt of a fallback chain).",
  modelExecuted: "Model that actually served the call.",
  provider: "Model provider, e.g. openai.",
  usage: "Token counts as reported; absent when the call reports none (with `estimate_usage`: estimated from its text when it has some).",
  usageEstimated: "The platform estimated the counts in `usage` itself (LangSmith's tiktoken fallback): not the provider's.",
  cacheHit: "Served from a response / LLM cache: the model did not run.",
  cacheHitSignal: "Which signal established `cacheHit`.",
  replaySignal: "Why the call looks like a LangChain Python LLM-cache replay (original counts, cost 0).",
  costTotal: "Cost the platform recorded (its own price table), in US dollars.",
  responseId: "Provider response id (chatcmpl-…, msg_…); one call traced twice shares it.",
  attributes: "Tenant attributes: the record's own metadata scalars, then its trace's (own keys win).",
  tags: "Tags, own and the trace's.",
  feature: "The `feature` attribute, when known.",
  userId: "End-user id.",
  sessionId: "Session / thread id.",
  order: "Ordering key among siblings.",
  text: "Prompt and completion text, only on a model call that reports no usage.",
  structured: "The record's own metadata values that are lists or maps (e.g. `batch_shares`), as sent.",
} as const satisfies Record<keyof TraceRecord, string>;

const USAGE_FIELD_DOCS = {
  input: "Input tokens, including `cacheRead` and `cacheWrite`.",
  output: "Output tokens, including `reasoning`.",
  cacheRead: "Input tokens read from the provider's prompt cache.",
  cacheWrite: "Input tokens written to the provider's prompt cache.",
  reasoning: "Reasoning tokens (part of output).",
} as const satisfies Record<keyof Usage, string>;

const TEXT_FIELD_DOCS = { input: "Prompt text.", output: "Completion text." } as const satisfies Record<keyof CallText, string>;

/** `record` fields as expressions read them (`usage.input` …) with their CEL type and meaning, for the reference. */
export const RECORD_FIELD_TYPES: Record<string, string> = Object.fromEntries(
  Object.entries(RECORD_FIELDS).flatMap(([name, type]): [string, string][] => {
    if (type === "Usage") return Object.entries(USAGE_FIELDS).map(([f, t]) => [`usage.${f}`, `${t} — ${USAGE_FIELD_DOCS[f as keyof Usage]}`]);
    if (type === "CallText") return Object.entries(TEXT_FIELDS).map(([f, t]) => [`text.${f}`, `${t} — ${TEXT_FIELD_DOCS[f as keyof CallText]}`]);
    return [[name, `${type} — ${RECORD_FIELD_DOCS[name as keyof TraceRecord]}`]];
  }),
);

export const RECORD_FIELD_NAMES: readonly string[] = [...Object.keys(RECORD_FIELDS), ...Object.keys(USAGE_FIELDS), ...Object.keys(TEXT_FIELDS)];

/** A record that cannot be shown to CEL as declared (e.g. a fractional token count). */
export class RecordViewError extends Error {
  override name = "RecordViewError";
}

class CelUsage {
  readonly input: bigint;
  readonly output: bigint;
  readonly cacheRead: bigint;
  readonly cacheWrite: bigint;
  readonly reasoning: bigint;
  constructor(u: Usage) {
    this.input = toInt(u.input, "input");
    this.output = toInt(u.output, "output");
    this.cacheRead = toInt(u.cacheRead, "cacheRead");
    this.cacheWrite = toInt(u.cacheWrite, "cacheWrite");
    this.reasoning = toInt(u.reasoning, "reasoning");
  }
}

/** Prompt / completion text; a side without text is absent. */
class CelText {
  readonly input: string | undefined;
  readonly output: string | undefined;
  constructor(t: CallText) {
    this.input = t.input ?? undefined;
    this.output = t.output ?? undefined;
  }
}

function toInt(n: number, field: string): bigint {
  // Most cache and reasoning counts are 0: no BigInt to allocate for them.
  if (n === 0) return 0n;
  if (!Number.isSafeInteger(n)) throw new RecordViewError(`usage.${field} is ${n}, not a whole number of tokens`);
  return BigInt(n);
}

/**
 * The record as CEL sees it. A null field is left undefined so `has(record.x)` is false
 * (CEL presence semantics) and reading it is a "no such key" that we treat as absent.
 * Fields are assigned one by one (one object shape, built once per record on the hot path);
 * `CompleteView` below makes a TraceRecord field missing here a compile error.
 */
class CelRecord {
  declare readonly platform: unknown;
  declare readonly recordId: unknown;
  declare readonly traceId: unknown;
  declare readonly parentId: unknown;
  declare readonly isModelCall: unknown;
  declare readonly name: unknown;
  declare readonly status: unknown;
  declare readonly error: unknown;
  declare readonly startTime: unknown;
  declare readonly endTime: unknown;
  declare readonly modelRequested: unknown;
  declare readonly modelExecuted: unknown;
  declare readonly provider: unknown;
  declare readonly usage: CelUsage | undefined;
  declare readonly usageEstimated: unknown;
  declare readonly cacheHit: unknown;
  declare readonly cacheHitSignal: unknown;
  declare readonly replaySignal: unknown;
  declare readonly costTotal: unknown;
  declare readonly responseId: unknown;
  declare readonly attributes: Record<string, unknown>;
  declare readonly tags: unknown;
  declare readonly feature: unknown;
  declare readonly userId: unknown;
  declare readonly sessionId: unknown;
  declare readonly order: unknown;
  declare readonly text: CelText | undefined;
  declare readonly structured: unknown;

  constructor(r: TraceRecord) {
    // Same order as RECORD_FIELDS (the order the fields are created in).
    const self = this as unknown as Record<keyof TraceRecord, unknown>;
    self.platform = r.platform ?? undefined;
    self.recordId = r.recordId ?? undefined;
    self.traceId = r.traceId ?? undefined;
    self.parentId = r.parentId ?? undefined;
    self.isModelCall = r.isModelCall ?? undefined;
    self.name = r.name ?? undefined;
    self.status = r.status ?? undefined;
    self.error = r.error ?? undefined;
    self.startTime = r.startTime ?? undefined;
    self.endTime = r.endTime ?? undefined;
    self.modelRequested = r.modelRequested ?? undefined;
    self.modelExecuted = r.modelExecuted ?? undefined;
    self.provider = r.provider ?? undefined;
    self.usage = r.usage ? new CelUsage(r.usage) : undefined;
    self.usageEstimated = r.usageEstimated ?? undefined;
    self.cacheHit = r.cacheHit ?? undefined;
    self.cacheHitSignal = r.cacheHitSignal ?? undefined;
    self.replaySignal = r.replaySignal ?? undefined;
    self.costTotal = r.costTotal ?? undefined;
    self.responseId = r.responseId ?? undefined;
    self.attributes = withoutNulls(r.attributes);
    self.tags = r.tags ?? undefined;
    self.feature = r.feature ?? undefined;
    self.userId = r.userId ?? undefined;
    self.sessionId = r.sessionId ?? undefined;
    self.order = r.order ?? undefined;
    self.text = r.text ? new CelText(r.text) : undefined;
    self.structured = r.structured ?? undefined;
  }
}

/** Compile-time check: the view has every TraceRecord field. */
type CompleteView = { [K in keyof TraceRecord]: CelRecord[K] };
export type { CompleteView as CelRecordView };

function withoutNulls(attrs: TraceRecord["attributes"]): Record<string, unknown> {
  for (const k in attrs) {
    if (attrs[k] === null) return Object.fromEntries(Object.entries(attrs).filter(([, v]) => v !== null));
  }
  return attrs;
}

/** Built once per record and shared by every expression of every mapping. */
export function celRecord(record: TraceRecord): object {
  return new CelRecord(record);
}

/** Pure helpers every expression may call; registered once on the base environment. */
function roundHalfAwayFromZero(x: number): bigint {
  if (!Number.isFinite(x)) throw new RangeError(`cannot round ${x}`);
  const r = Math.sign(x) * Math.round(Math.abs(x));
  if (!Number.isSafeInteger(r)) throw new RangeError(`round(${x}) is too large to bill exactly`);
  return BigInt(r);
}

const baseEnv = new Environment({ enableOptionalTypes: true, limits: { maxAstNodes: 2000, maxDepth: 50 } })
  .registerType("Usage", { ctor: CelUsage, fields: USAGE_FIELDS })
  .registerType("CallText", { ctor: CelText, fields: TEXT_FIELDS })
  .registerType("TraceRecord", { ctor: CelRecord, fields: RECORD_FIELDS })
  .registerFunction("round(double): int", roundHalfAwayFromZero, {
    description: "Nearest whole number, halves away from zero: round(2.5) = 3, round(-2.5) = -3.",
  })
  .registerFunction("round(int): int", (x: bigint) => x, { description: "An int is already whole." })
  .registerVariable("record", "TraceRecord", { description: "The normalized trace record." });

export type ParamType = "string" | "int" | "double" | "bool";

/** A param as CEL sees it: its declared type and value. */
export interface ParamDecl {
  name: string;
  type: ParamType;
  value: string | number | boolean;
}

export interface KindSpec {
  env: Environment;
  /** CEL types the expression may produce (checked at load time). */
  types: ReadonlySet<string> | ((type: string) => boolean);
  /** Plain words for messages: "must give …". */
  wants: string;
  /** Variables in scope, for messages. */
  scope: string;
  /** Declared params, for "did you mean". */
  paramNames: readonly string[];
}

/** The environments of one mapping (its params are part of them) and the params' CEL value. */
export interface CelEnvironments {
  kinds: Record<CelKind, KindSpec>;
  /** `params` as expressions read it; goes into every evaluation context. */
  params: object;
}

const scalars = ["string", "int", "uint", "double", "dyn"];
const withOptional = (types: string[]) => new Set([...types, ...types.map((t) => `optional<${t}>`)]);

/**
 * Builds the CEL world of one mapping: `record` everywhere, `params` typed from its declared
 * params (a misspelt param is a load-time error), `customer` once it is resolved. In a mapping
 * that splits shared calls, quantities are computed once per call, before any customer.
 */
export function celEnvironments(params: readonly ParamDecl[] = [], opts: { split?: boolean } = {}): CelEnvironments {
  const fields = Object.fromEntries(params.map((p) => [p.name, p.type]));
  class Params {
    constructor() {
      const self = this as unknown as Record<string, unknown>;
      for (const p of params) self[p.name] = p.type === "int" ? BigInt(p.value as number) : p.value;
    }
  }
  const recordEnv = baseEnv
    .clone()
    .registerType("Params", { ctor: Params, fields })
    .registerVariable("params", "Params", { description: "The mapping's params." });
  const eventEnv = recordEnv.clone().registerVariable("customer", "string", { description: "The resolved customer id." });
  // Share lists are map literals mixing text and numbers: {'customer': s.tenant, 'weight': 1}.
  const splitEnv = recordEnv.clone({ homogeneousAggregateLiterals: false });
  const paramNames = params.map((p) => p.name);
  const kinds: Record<CelKind, Omit<KindSpec, "paramNames">> = {
    condition: { env: recordEnv, types: new Set(["bool", "dyn"]), wants: "true or false", scope: "record, params" },
    customer: { env: recordEnv, types: withOptional(scalars), wants: "a text or number id", scope: "record, params" },
    subscription: { env: eventEnv, types: withOptional(["string", "dyn"]), wants: "text", scope: "record, params, customer" },
    quantity: opts.split
      ? { env: recordEnv, types: new Set(["int", "uint", "double", "dyn"]), wants: "a number", scope: "record, params" }
      : { env: eventEnv, types: new Set(["int", "uint", "double", "dyn"]), wants: "a number", scope: "record, params, customer" },
    property: {
      env: eventEnv,
      types: withOptional([...scalars, "bool", "null"]),
      wants: "text, a number or true/false",
      scope: "record, params, customer",
    },
    split: {
      env: splitEnv,
      types: (t) => t === "dyn" || t.startsWith("list<") || t.startsWith("optional<list<"),
      wants: "a list of {'customer': …, 'weight': …}",
      scope: "record, params",
    },
  };
  const withNames = Object.fromEntries(Object.entries(kinds).map(([k, spec]) => [k, { ...spec, paramNames }])) as unknown as Record<CelKind, KindSpec>;
  return { kinds: withNames, params: new Params() };
}

/** The environments of a mapping without params or split. */
export const KINDS: Record<CelKind, KindSpec> = celEnvironments().kinds;

/** Marks a value the record does not have (null field, missing attribute, empty optional). */
export const ABSENT: unique symbol = Symbol("absent");
export type Absent = typeof ABSENT;

/** A CEL result the JS side cannot use as-is. */
export class CelValueError extends Error {
  override name = "CelValueError";
}

/** CEL result → plain JS scalar: BigInt and uint become numbers, optionals unwrap, null is ABSENT. */
export function fromCel(v: unknown): string | number | boolean | Absent {
  switch (typeof v) {
    case "string":
    case "boolean":
      return v;
    case "number":
      if (!Number.isFinite(v)) throw new CelValueError(`gave ${v}`);
      return v;
    case "bigint":
      return bigintToNumber(v);
    case "undefined":
      return ABSENT;
  }
  if (v === null) return ABSENT;
  if (v instanceof Optional) return v.hasValue() ? fromCel(v.value()) : ABSENT;
  // uint values are wrapper objects whose valueOf is a BigInt.
  const prim = (v as { valueOf(): unknown }).valueOf();
  if (typeof prim === "bigint") return bigintToNumber(prim);
  throw new CelValueError(`gave ${Array.isArray(v) ? "a list" : v instanceof Map ? "a map" : "a structured value"}, not a single value`);
}

function bigintToNumber(v: bigint): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new CelValueError(`gave ${v}, too large to bill exactly`);
  return n;
}

/** One entry of a split's share list, before validation. */
export type RawShare = Record<string, string | number | boolean | Absent>;

/** A CEL list of maps → plain entries (scalars converted like `fromCel`); ABSENT when there is none. */
export function listFromCel(v: unknown): RawShare[] | Absent {
  if (v === undefined || v === null) return ABSENT;
  if (v instanceof Optional) return v.hasValue() ? listFromCel(v.value()) : ABSENT;
  if (!Array.isArray(v)) throw new CelValueError("gave a single value, not a list");
  return v.map((item: unknown, i) => {
    const entries: [unknown, unknown][] =
      item instanceof Map ? [...(item as Map<unknown, unknown>).entries()] : typeof item === "object" && item !== null && !Array.isArray(item) ? Object.entries(item) : [];
    if (entries.length === 0) throw new CelValueError(`item ${i + 1} is not a map like {'customer': …, 'weight': …}`);
    return Object.fromEntries(entries.map(([k, val]) => [String(k), fromCel(val)]));
  });
}
