/**
 * @module What a normalizer keeps beyond flat attributes, for mappings that need it: a model
 * call's text (only when it reports no usage, so tokens can be estimated) and metadata values
 * that are lists or maps (e.g. batch membership).
 */
import type { CallText, JsonValue } from "../model/index.js";
import { isObject } from "./raw.js";

/** Where message text sits in the shapes LangChain, OpenAI and Langfuse use, most specific first. */
const TEXT_KEYS = ["kwargs", "content", "text", "message", "messages", "prompts", "prompt", "generations", "choices"] as const;

/**
 * The plain text in a prompt or completion: strings as they are, lists joined by newlines,
 * objects through their text-bearing keys (serialized LangChain messages, `{role, content}`,
 * content parts `{type: "text", text}`, generations). An object with none of those keys counts
 * as its JSON at the top level (Langfuse inputs can be any JSON) and as nothing inside a message.
 */
export function plainText(value: unknown, depth = 0): string | null {
  if (typeof value === "string") return value === "" ? null : value;
  if (depth > 12) return null;
  if (Array.isArray(value)) {
    const parts = value.map((v) => plainText(v, depth + 1)).filter((p): p is string => p !== null);
    return parts.length > 0 ? parts.join("\n") : null;
  }
  if (!isObject(value)) return null;
  let known = false;
  for (const key of TEXT_KEYS) {
    if (value[key] === undefined || value[key] === null) continue;
    known = true;
    const text = plainText(value[key], depth + 1);
    if (text !== null) return text;
  }
  return known || depth > 0 ? null : JSON.stringify(value);
}

/** `{ text }` to spread into a TraceRecord, or nothing when neither side has text. */
export function callText(input: unknown, output: unknown): { text: CallText } | Record<string, never> {
  const text = { input: plainText(input), output: plainText(output) };
  return text.input === null && text.output === null ? {} : { text };
}

/** `{ structured }` to spread into a TraceRecord: metadata values that are lists or maps, or nothing. */
export function structuredMetadata(
  metadata: Record<string, unknown>,
  isNoise: (key: string) => boolean = () => false,
  parseJsonText = false,
): { structured: Record<string, JsonValue> } | Record<string, never> {
  let out: Record<string, JsonValue> | undefined;
  for (const key of Object.keys(metadata)) {
    if (isNoise(key)) continue;
    const raw = metadata[key];
    const value = parseJsonText ? jsonText(raw) : raw;
    if (typeof value === "object" && value !== null) (out ??= {})[key] = value as JsonValue;
  }
  return out ? { structured: out } : {};
}

/** A string holding a JSON list or map, parsed (file exports keep metadata values as strings). */
function jsonText(value: unknown): unknown {
  if (typeof value !== "string" || !/^\s*[[{]/.test(value)) return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}
