/**
 * @module The attribution config (`mappings/attribution.yaml`): which attribution model bills
 * unattributed or shared usage, per which window, with which per-model weights. Data, validated
 * by zod; every problem comes back as `file:line:col message`, like the mapping files.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import * as z from "zod";
import { formatProblem, sortProblems, type MappingProblem } from "../mapping/problems.js";
import { closest } from "../mapping/suggest.js";
import { YamlSource } from "../mapping/yaml-source.js";
import { UserError, type Skip } from "../model/index.js";
import { EXPECTED, describe, valueAt } from "../mapping/issues.js";

/** How usage that names no tenant is billed. `direct` (the default) is today's behaviour: it is not billed. */
export const ATTRIBUTION_MODELS = ["direct", "activity", "weighted"] as const;
export type AttributionModel = (typeof ATTRIBUTION_MODELS)[number];
/** The models that allocate unattributed usage to tenants. */
export type AllocationModel = Exclude<AttributionModel, "direct">;
export const ALLOCATION_MODELS: readonly AllocationModel[] = ["activity", "weighted"];

/** UTC windows: unattributed usage of a window goes to the tenants active in that same window. */
export const WINDOW_SIZES = ["day", "hour"] as const;
export type WindowSize = (typeof WINDOW_SIZES)[number];

/** What "activity" counts: the metric's quantity (tokens), or the number of calls. */
export const ACTIVITY_MEASURES = ["quantity", "calls"] as const;
export type ActivityMeasure = (typeof ACTIVITY_MEASURES)[number];

type SkipCode = NonNullable<Skip["code"]>;
/** Every skip code the pipeline can give, so a new code is a compile error here until it is listed. */
const SKIP_CODE_SET: Record<SkipCode, true> = { "no-customer": true };
export const SKIP_CODES = Object.keys(SKIP_CODE_SET) as [SkipCode, ...SkipCode[]];

export interface AttributionConfig {
  /** Where it was read from (shown in reports); "(defaults)" when no file exists. */
  file: string;
  /** Part of every allocation event's idempotency key and its `mapping` field: never rename once sent. */
  name: string;
  description?: string;
  /** Content hash of the file (12 hex), like a mapping's version. */
  version: string;
  model: AttributionModel;
  window: WindowSize;
  /** Metric codes whose unattributed usage is allocated (others are left as they are). */
  metrics: string[];
  activity: ActivityMeasure;
  /** Per-model weight applied to the activity measure by the `weighted` model (keyed by the `model` property). */
  weights: Record<string, number>;
  /** Weight of a model not listed in `weights`. */
  defaultWeight: number;
  unattributed: {
    /** Skip codes whose records count as unattributed usage. */
    skipCodes: SkipCode[];
    /**
     * Only records whose trace context was found count: their tenant is really absent, not just
     * late (a trace that may still arrive would otherwise be billed twice).
     */
    requireTraceContext: boolean;
    /** Pseudo-tenants (e.g. `internal`) whose directly attributed usage is shared spend, allocated like the rest. */
    customers: string[];
  };
  tenants: {
    /** `active`: every tenant with directly attributed usage of the metric in the window; `list`: only those listed, when active. */
    from: "active" | "list";
    list: string[];
    exclude: string[];
  };
}

const name = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, "lower-case letters, digits, '-' and '_', starting with a letter or digit");
const id = z.string().min(1, "an empty id");

const UnattributedSchema = z.strictObject({
  skip_codes: z.array(z.enum(SKIP_CODES)).min(1, "list at least one skip code").default(["no-customer"]),
  require_trace_context: z.boolean().default(true),
  customers: z.array(id).default([]),
});

const TenantsSchema = z.strictObject({
  from: z.enum(["active", "list"]).default("active"),
  list: z.array(id).optional(),
  exclude: z.array(id).default([]),
});

export const AttributionSchema = z.strictObject({
  name: name.default("attribution"),
  description: z.string().optional(),
  model: z.enum(ATTRIBUTION_MODELS).default("direct"),
  window: z.enum(WINDOW_SIZES).default("day"),
  metrics: z.array(z.string().min(1, "an empty metric code")).min(1, "list at least one metric").default(["llm_tokens"]),
  activity: z.enum(ACTIVITY_MEASURES).default("quantity"),
  weights: z.record(z.string().min(1), z.number()).default({}),
  default_weight: z.number().default(1),
  unattributed: UnattributedSchema.default({ skip_codes: ["no-customer"], require_trace_context: true, customers: [] }),
  tenants: TenantsSchema.default({ from: "active", exclude: [] }),
});

/** Keys allowed at each map of the file, for "unknown key … (did you mean …?)". */
const ALLOWED: Record<string, readonly string[]> = {
  "": Object.keys(AttributionSchema.shape),
  unattributed: Object.keys(UnattributedSchema.shape),
  tenants: Object.keys(TenantsSchema.shape),
};

export interface ConfigResult {
  config: AttributionConfig | undefined;
  problems: MappingProblem[];
}

/** The config used when no `attribution.yaml` exists: direct attribution, nothing allocated. */
export function defaultAttributionConfig(): AttributionConfig {
  return toConfig("(defaults)", "", AttributionSchema.parse({}));
}

/** Pure core of loading: the text of one attribution file → config, or every problem with its position. */
export function parseAttributionConfig(file: string, text: string): ConfigResult {
  const source = YamlSource.parse(file, text);
  const syntax = source.syntaxProblems();
  if (syntax.length > 0) return { config: undefined, problems: sortProblems(syntax) };
  if (source.isEmpty()) {
    return { config: undefined, problems: [{ file, line: 1, col: 1, message: "the file is empty; expected an attribution config (model, window, metrics, weights, …)" }] };
  }
  const data = source.toData();
  const parsed = AttributionSchema.safeParse(data);
  if (!parsed.success) return { config: undefined, problems: sortProblems(parsed.error.issues.flatMap((i) => explain(source, data, i))) };
  const problems = checks(source, parsed.data);
  if (problems.length > 0) return { config: undefined, problems: sortProblems(problems) };
  return { config: toConfig(file, text, parsed.data), problems: [] };
}

/** Every problem in an attribution config, each as `file:line:col message`. */
export class AttributionConfigError extends UserError {
  override name = "AttributionConfigError";
  constructor(readonly problems: readonly MappingProblem[]) {
    const n = problems.length;
    super(`${n} problem${n === 1 ? "" : "s"} in the attribution config:\n${problems.map(formatProblem).join("\n")}`, 1);
  }
}

/**
 * Reads an attribution config. A missing file gives the defaults (direct attribution) when
 * `optional`; otherwise, and for any problem in the file, throws AttributionConfigError.
 */
export async function loadAttributionConfig(path: string, opts: { optional?: boolean } = {}): Promise<AttributionConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if (opts.optional && (e as NodeJS.ErrnoException).code === "ENOENT") return defaultAttributionConfig();
    throw new AttributionConfigError([{ file: path, line: 1, col: 1, message: `cannot read: ${(e as Error).message}` }]);
  }
  const { config, problems } = parseAttributionConfig(path, text);
  if (!config) throw new AttributionConfigError(problems);
  return config;
}

// ---------------------------------------------------------------------------------------------

type Parsed = z.output<typeof AttributionSchema>;
type Path = (string | number)[];

function toConfig(file: string, text: string, d: Parsed): AttributionConfig {
  return {
    file,
    name: d.name,
    ...(d.description === undefined ? {} : { description: d.description }),
    version: createHash("sha256").update(text).digest("hex").slice(0, 12),
    model: d.model,
    window: d.window,
    metrics: d.metrics,
    activity: d.activity,
    weights: d.weights,
    defaultWeight: d.default_weight,
    unattributed: { skipCodes: d.unattributed.skip_codes, requireTraceContext: d.unattributed.require_trace_context, customers: d.unattributed.customers },
    tenants: { from: d.tenants.from, list: d.tenants.list ?? [], exclude: d.tenants.exclude },
  };
}

/** What zod cannot say on its own: weights' range and precision, duplicates, a list that must be there. */
function checks(source: YamlSource, d: Parsed): MappingProblem[] {
  const out: MappingProblem[] = [];
  const weight = (path: Path, label: string, w: number) => {
    if (!Number.isFinite(w) || w < 0) out.push(source.problem(path, `${label}: a weight is a number of 0 or more, got ${w}`));
    else if (Number(w.toFixed(6)) !== w) out.push(source.problem(path, `${label}: at most 6 decimals, got ${w}`));
  };
  for (const [model, w] of Object.entries(d.weights)) weight(["weights", model], `weights.${model}`, w);
  weight(["default_weight"], "default_weight", d.default_weight);
  const unique = (list: readonly string[], path: Path, label: string) => {
    const seen = new Set<string>();
    list.forEach((v, i) => {
      if (seen.has(v)) out.push(source.problem([...path, i], `${label}: '${v}' is listed twice`));
      seen.add(v);
    });
  };
  unique(d.metrics, ["metrics"], "metrics");
  unique(d.unattributed.skip_codes, ["unattributed", "skip_codes"], "unattributed.skip_codes");
  unique(d.unattributed.customers, ["unattributed", "customers"], "unattributed.customers");
  unique(d.tenants.exclude, ["tenants", "exclude"], "tenants.exclude");
  if (d.tenants.from === "list") {
    if (!d.tenants.list || d.tenants.list.length === 0) out.push(source.problem(["tenants", "from"], "tenants: from: list needs a non-empty 'list' of tenant ids"));
    else unique(d.tenants.list, ["tenants", "list"], "tenants.list");
  } else if (d.tenants.list !== undefined) {
    out.push(source.problem(["tenants", "list"], "tenants.list: only read with 'from: list' (tenants are taken from activity here)", "key"));
  }
  const shared = new Set(d.unattributed.customers);
  (d.tenants.list ?? []).forEach((t, i) => {
    if (shared.has(t)) out.push(source.problem(["tenants", "list", i], `tenants.list: '${t}' is also in unattributed.customers; shared spend cannot be allocated back to it`));
  });
  return out;
}

type Issue = z.core.$ZodIssue;

function explain(source: YamlSource, data: unknown, issue: Issue): MappingProblem[] {
  const path = issue.path as Path;
  const label = path.map(String).join(".");
  const say = (message: string, on: "key" | "value" = "value") => source.problem(path, label ? `${label}: ${message}` : message, on);
  const value = valueAt(data, path);
  switch (issue.code) {
    case "unrecognized_keys": {
      const allowed = ALLOWED[label] ?? [];
      return issue.keys.map((key) => {
        const guess = closest(key, allowed);
        const message = `unknown key '${key}'${guess ? ` (did you mean '${guess}'?)` : ""}; allowed here: ${allowed.join(", ")}`;
        return source.problem([...path, key], label ? `${label}: ${message}` : message, "key");
      });
    }
    case "invalid_value": {
      const options = issue.values.map(String);
      const guess = typeof value === "string" ? closest(value, options) : undefined;
      return [say(`must be one of ${options.join(", ")}, got ${describe(value)}${guess ? ` (did you mean '${guess}'?)` : ""}`)];
    }
    case "invalid_type":
      return [say(`expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${describe(value)}`)];
    default:
      return [say(issue.message)];
  }
}



