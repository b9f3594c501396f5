import { LANGFUSE_PAGES } from "../langfuse/pages.js";
import { LANGSMITH_PAGES } from "../langsmith/pages.js";
import type { Envelope } from "./envelope.js";

/** Every API page shape, unwrapped in any JSON container before records are recognised. */
export const PAGE_ENVELOPES: readonly Envelope[] = [...LANGSMITH_PAGES, ...LANGFUSE_PAGES];
