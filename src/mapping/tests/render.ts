/**
 * @module Test results as text: one line per case, and for a failing case what was expected and
 * what the mappings did, field by field. Colour is opt-in (terminals); plain text otherwise, so
 * CI logs and snapshots stay readable.
 */
import type { BillableEvent, PropertyValue } from "../../model/index.js";
import { ABSENT_FIELD, type CaseResult, type Failure } from "./run.js";
import type { ExpectedEvent } from "./schema.js";

export interface RenderOptions {
  color: boolean;
}

const ANSI = { red: [31, 39], green: [32, 39], dim: [2, 22], bold: [1, 22] } as const;
type Style = keyof typeof ANSI;

function painter(color: boolean) {
  return (style: Style, s: string) => (color ? `\u001b[${ANSI[style][0]}m${s}\u001b[${ANSI[style][1]}m` : s);
}

/** `✓ name` or `✗ name (file:line:col)`. */
export function renderCaseLine(r: CaseResult, opts: RenderOptions): string {
  const paint = painter(opts.color);
  const c = r.case;
  return r.passed ? `${paint("green", "✓")} ${c.name}` : `${paint("red", "✗")} ${c.name} ${paint("dim", `(${c.file}:${c.line}:${c.col})`)}`;
}

/** What went wrong, one line per difference, each starting with `indent`. Empty for a passing case. */
export function renderFailures(r: CaseResult, opts: RenderOptions, indent = "  "): string {
  const paint = painter(opts.color);
  const want = (v: string) => paint("green", v);
  const got = (v: string) => paint("red", v);
  const withMapping = r.mappings > 1;
  const lines: string[] = [];
  for (const f of r.failures) lines.push(...describe(f));
  // Events went missing and the case does not check skips: the skip reason says why.
  const missing = r.failures.some((f) => f.kind === "event" || f.kind === "missing-event");
  if (missing && r.case.expect.skipped === undefined) {
    for (const s of r.skips) lines.push(`(skipped, not checked: ${JSON.stringify(s.reason)})`);
  }
  return lines.map((l) => indent + l).join("\n");

  function describe(f: Failure): string[] {
    switch (f.kind) {
      case "event":
        return [
          `event ${f.index + 1} ${show(f.expected)}`,
          ...f.diffs.map((d) => `  ${d.field}: expected ${want(value(d.expected))}, got ${got(value(d.actual))}`),
        ];
      case "missing-event":
        return [`event ${f.index + 1} ${show(f.expected)}: ${got("not produced")}`];
      case "unexpected-event":
        return [`unexpected event ${got(show(actualView(f.actual, withMapping)))}`];
      case "missing-skip":
        return [`skipped: expected a skip matching ${want(JSON.stringify(f.expected))}, got ${got(skipsSeen())}`];
      case "unexpected-skip":
        return [`skipped: not expected, got ${got(JSON.stringify(f.reason))}`];
    }
  }

  function skipsSeen(): string {
    if (r.skips.length) return r.skips.map((s) => JSON.stringify(s.reason)).join(", ");
    return r.events.length ? `no skip (the record was billed: ${r.events.length} event${r.events.length === 1 ? "" : "s"})` : "no skip and no events";
  }
}

/** An actual event as it would be written in a test file, so a right answer can be pasted in. */
function actualView(e: BillableEvent, withMapping: boolean): Record<string, unknown> {
  return {
    customer: e.customer,
    metric: e.metric,
    ...(withMapping ? { mapping: e.mapping } : {}),
    value: e.value,
    properties: e.properties,
    ...(e.subscription === undefined ? {} : { subscription: e.subscription }),
    ...(e.estimated ? { estimated: true } : {}),
  };
}

/** YAML flow style, valid in a test file: `{ customer: "acme", value: 400, properties: { type: "input" } }`. */
function show(v: ExpectedEvent | Record<string, unknown>): string {
  const entries = Object.entries(v).filter(([, x]) => x !== undefined);
  if (entries.length === 0) return "{}";
  return `{ ${entries.map(([k, x]) => `${k}: ${typeof x === "object" && x !== null ? show(x as Record<string, unknown>) : value(x)}`).join(", ")} }`;
}

function value(v: unknown): string {
  if (v === ABSENT_FIELD) return "(absent)";
  if (typeof v === "string") return JSON.stringify(v);
  return String(v as PropertyValue | null);
}
