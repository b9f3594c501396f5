import { langfuseBlobDialects } from "../langfuse/blob-export.js";
import { langfuseObservations, langfuseTraces } from "../langfuse/format.js";
import { langfuseScoreDialects } from "../langfuse/scores.js";
import { langfuseUiDialects } from "../langfuse/ui-export.js";
import { langSmithBulkDialects } from "../langsmith/bulk-export.js";
import { langSmithRuns } from "../langsmith/format.js";
import type { Dialect, InputKind } from "../source.js";
import type { DialectSpec } from "./dialect.js";

/** The API shapes: what the platform normalizers read as they are. */
const apiDialects: readonly DialectSpec[] = [
  { platform: "langsmith", kind: "langsmith-runs", dialect: "api", recognise: (r) => langSmithRuns.recognise(r), fallbackFor: () => true },
  { platform: "langfuse", kind: "langfuse-observations", dialect: "api", recognise: (r) => langfuseObservations.recognise(r), fallbackFor: () => true },
  { platform: "langfuse", kind: "langfuse-traces", dialect: "api", recognise: (r) => langfuseTraces.recognise(r), fallbackFor: () => true },
];

const [lsApi, lfObsApi, lfTraceApi] = apiDialects as [DialectSpec, DialectSpec, DialectSpec];

/**
 * Tried in this order on a file's first records. Snake_case Langfuse blob rows come first:
 * they have a `trace_id` and a `project_id` as LangSmith runs do. Scores before observations
 * and traces (they have a trace id and a timestamp), dialects before the API shape they extend.
 */
export const DIALECTS: readonly DialectSpec[] = [
  ...langfuseBlobDialects,
  ...langfuseScoreDialects,
  ...langSmithBulkDialects,
  lsApi,
  ...langfuseUiDialects,
  lfObsApi,
  lfTraceApi,
];

export function dialectOf(kind: InputKind, dialect: Dialect): DialectSpec {
  const spec = DIALECTS.find((d) => d.kind === kind && d.dialect === dialect);
  if (!spec) throw new Error(`no ${dialect} dialect for ${kind}`);
  return spec;
}
