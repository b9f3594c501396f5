/**
 * @module One mapping file parsed with positions, so every problem can point at the exact key,
 * value or character inside an expression.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Scalar } from "yaml";
import type { MappingProblem } from "./problems.js";
import type { Path } from "./schema-walk.js";

interface Located {
  /** Node for the value at the path, or the deepest existing ancestor when the path is missing. */
  node: unknown;
  /** Key node of the last path segment, when that segment is a map key that exists. */
  key: unknown;
  missing: boolean;
}

export class YamlSource {
  private constructor(
    readonly file: string,
    readonly text: string,
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  static parse(file: string, text: string): YamlSource {
    const lines = new LineCounter();
    // prettyErrors would bake a context excerpt into messages; we render positions ourselves.
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    return new YamlSource(file, text, doc, lines);
  }

  /** YAML syntax errors, plus warnings: a mapping that parses with warnings may not mean what it says. */
  syntaxProblems(): MappingProblem[] {
    return [...this.doc.errors, ...this.doc.warnings].map((e) =>
      this.problemAtOffset(e.pos[0], `YAML: ${YAML_MESSAGES[e.code] ?? e.message}${YAML_HINTS[e.code] ?? ""}`),
    );
  }

  isEmpty(): boolean {
    return this.doc.contents === null;
  }

  toData(): unknown {
    return this.doc.toJS({ maxAliasCount: 100 });
  }

  /** A problem at the value of `path` (at its key with `on: "key"`; at the parent when the path is missing). */
  problem(path: Path, message: string, on: "key" | "value" = "value"): MappingProblem {
    const at = this.locate(path);
    const node = on === "key" && at.key ? at.key : at.node;
    return this.problemAtOffset(startOf(node) ?? 0, message);
  }

  /**
   * A problem at character `offset` of the CEL expression at `path`. When the scalar's text in
   * the file is not the expression verbatim (escapes, folding), it points at the scalar and
   * names the offset in the message instead.
   */
  expressionProblem(path: Path, expression: string, offset: number | undefined, message: string): MappingProblem {
    const { node } = this.locate(path);
    const start = startOf(node) ?? 0;
    if (offset === undefined) return this.problemAtOffset(start, message);
    const exact = isScalar(node) ? this.offsetInScalar(node, expression, offset) : undefined;
    return exact === undefined
      ? this.problemAtOffset(start, `${message} (at character ${offset + 1} of the expression)`)
      : this.problemAtOffset(exact, message);
  }

  /** The scalar at `path` exactly as written (`1.0` stays `1.0`), or undefined when it is not a scalar. */
  scalarSource(path: Path): string | undefined {
    const { node, missing } = this.locate(path);
    if (missing || !isScalar(node) || !node.range) return undefined;
    return this.text.slice(node.range[0], node.range[1]);
  }

  /** "file:line:col" of the value at `path`, for messages that refer to another place. */
  where(path: Path): string {
    const p = this.problem(path, "");
    return `${p.file}:${p.line}:${p.col}`;
  }

  private problemAtOffset(offset: number, message: string): MappingProblem {
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, col, message };
  }

  private locate(path: Path): Located {
    let node: unknown = this.doc.contents;
    let key: unknown;
    for (const segment of path) {
      if (isAlias(node)) node = node.resolve(this.doc);
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
        if (!pair) return { node, key: undefined, missing: true };
        key = pair.key;
        node = isEmptyScalar(pair.value) ? pair.key : pair.value;
      } else if (isSeq(node) && typeof segment === "number" && node.items[segment] !== undefined) {
        key = undefined;
        node = node.items[segment];
      } else {
        return { node, key: undefined, missing: true };
      }
    }
    return { node, key, missing: false };
  }

  private offsetInScalar(node: Scalar, expression: string, offset: number): number | undefined {
    const [start, end] = node.range ?? [0, 0];
    const text = this.text;
    if (node.type === "PLAIN" || node.type === "QUOTE_DOUBLE" || node.type === "QUOTE_SINGLE") {
      const body = start + (node.type === "PLAIN" ? 0 : 1);
      return text.slice(body, body + expression.length) === expression ? body + offset : undefined;
    }
    if (node.type !== "BLOCK_LITERAL") return undefined;
    // A literal block keeps lines verbatim after removing one indentation: map (line, col) back.
    const header = text.indexOf("\n", start);
    if (header < 0 || header >= end) return undefined;
    const sourceLines = text.slice(header + 1, end).split("\n");
    const indent = /^ */.exec(sourceLines.find((l) => l.trim() !== "") ?? "")![0].length;
    const before = expression.slice(0, offset).split("\n");
    const lineIndex = before.length - 1;
    const col = before[lineIndex]!.length;
    const wanted = expression.split("\n")[lineIndex] ?? "";
    const sourceLine = sourceLines[lineIndex];
    if (sourceLine === undefined || sourceLine.slice(indent, indent + wanted.length) !== wanted) return undefined;
    let pos = header + 1;
    for (let i = 0; i < lineIndex; i++) pos += sourceLines[i]!.length + 1;
    return pos + indent + col;
  }
}

/** The usual ways CEL inside YAML goes wrong, explained where the YAML parser sees them. */
const YAML_HINTS: Partial<Record<string, string>> = {
  TAG_RESOLVE_FAILED: " (a value starting with '!' is a YAML tag: quote the expression, e.g. \"!record.isModelCall\")",
  BLOCK_AS_IMPLICIT_KEY: " (an expression containing ': ' must be quoted)",
};

const YAML_MESSAGES: Partial<Record<string, string>> = {
  MULTIPLE_DOCS: "a mapping file holds one document (one mapping); move the others to their own files",
};

function startOf(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  return range?.[0];
}

function isEmptyScalar(node: unknown): boolean {
  if (!isScalar(node) || node.value !== null || !node.range) return node === null || node === undefined;
  return node.range[0] === node.range[1];
}
