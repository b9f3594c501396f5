/** @module The JSON Schema editors use to complete and check mapping files, derived from the zod schema. */
import * as z from "zod";
import { MappingSchema } from "./schema.js";

/**
 * Draft-07 because yaml-language-server supports up to it; input mode because authors write
 * the input shape (defaults optional, expressions as text).
 */
export function mappingJsonSchema(): string {
  return JSON.stringify(z.toJSONSchema(MappingSchema, { io: "input", target: "draft-07" }), null, 2) + "\n";
}
