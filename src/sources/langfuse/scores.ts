import type { DialectSpec } from "../formats/dialect.js";
import type { InputFormat } from "../source.js";
import { SCORES_NOTE } from "./blob-export.js";

/**
 * Scores (evaluations: numeric, boolean, categorical) are in every Langfuse blob export and can
 * be exported from the UI. They are recognised so a directory of exports reads without error,
 * and contribute nothing: not usage, not trace context.
 */
export const langfuseScores: InputFormat = {
  platform: "langfuse",
  kind: "langfuse-scores",
  recognise: (r) => "traceId" in r && !("type" in r) && ("dataType" in r || ("value" in r && "source" in r)),
  context: () => ({}),
};

/** Scores as the API, SDK dumps or the UI export write them (camelCase). */
export const langfuseScoreDialects: readonly DialectSpec[] = [
  {
    platform: "langfuse",
    kind: "langfuse-scores",
    dialect: "api",
    recognise: (r) => langfuseScores.recognise(r),
    inputNotes: [SCORES_NOTE],
  },
];
