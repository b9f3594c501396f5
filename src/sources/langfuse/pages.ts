import type { Envelope } from "../formats/envelope.js";

/** Public API list responses: `{"data": [...], "meta": {...}}` (v1 page/limit, v2 cursor). */
export const LANGFUSE_PAGES: readonly Envelope[] = [{ key: "data", companions: ["meta"] }];
