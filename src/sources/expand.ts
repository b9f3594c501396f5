import { readdir, realpath, stat } from "node:fs/promises";
import { isAbsolute, join, relative, resolve } from "node:path";
import { glob, isDynamicPattern } from "tinyglobby";
import { UserError } from "../model/index.js";

/** File names an export can have; content decides the rest (a `.gz` may hold anything). */
const EXPORT_FILE = /\.(json|jsonl|ndjson|csv|parquet)(\.gz)?$|\.gz$/i;

/**
 * Command-line inputs → files, in a stable order: a file as given, a directory recursively
 * (export files only, sorted; hidden entries and Langfuse blob `manifests/` skipped), anything
 * else as a glob with the same filter. A file reached twice is read once. An argument that
 * names nothing is a UserError.
 */
export async function expandInputs(args: string[]): Promise<string[]> {
  const files: string[] = [];
  const seen = new Set<string>();
  for (const arg of args) {
    for (const file of await expandOne(arg)) {
      // The same file under two names (a symlink, `./a` and `a`) is read once.
      const real = await realpath(file);
      if (seen.has(real)) continue;
      seen.add(real);
      files.push(file);
    }
  }
  return files;
}

async function expandOne(arg: string): Promise<string[]> {
  const info = await stat(arg).catch(() => null);
  if (info?.isFile()) return [arg];
  if (info?.isDirectory()) {
    const found = await walk(arg, new Set());
    if (found.length === 0) throw new UserError(`${arg}: no export files in this directory (looked for .json, .jsonl, .ndjson, .csv, .parquet, optionally .gz)`);
    return found;
  }
  if (!isDynamicPattern(arg)) throw new UserError(`${arg}: no such file or directory`);
  // Matches come back relative to the working directory unless the pattern is absolute.
  const base = resolve(staticBase(arg));
  const found = (await glob(arg, { onlyFiles: true, dot: false, expandDirectories: false, absolute: isAbsolute(arg) }))
    .filter((file) => isExportFile(relative(base, resolve(file))))
    .sort();
  if (found.length === 0) throw new UserError(`${arg}: no export file matches this pattern`);
  return found;
}

async function walk(dir: string, visited: Set<string>): Promise<string[]> {
  // A symlinked directory may lead back up the tree.
  const real = await realpath(dir);
  if (visited.has(real)) return [];
  visited.add(real);
  const out: string[] = [];
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    const info = entry.isSymbolicLink() ? await stat(path).catch(() => null) : entry;
    if (info?.isDirectory()) {
      // Langfuse writes a manifest per export run next to the tables; it lists files, it holds no records.
      if (entry.name !== "manifests") out.push(...(await walk(path, visited)));
    } else if (info?.isFile() && EXPORT_FILE.test(entry.name)) out.push(path);
  }
  return out;
}

/** The directories a pattern names before its first wildcard: what the user chose explicitly. */
function staticBase(pattern: string): string {
  const parts = pattern.split("/");
  const fixed: string[] = [];
  for (const part of parts.slice(0, -1)) {
    if (isDynamicPattern(part)) break;
    fixed.push(part);
  }
  return fixed.join("/") || (isAbsolute(pattern) ? "/" : ".");
}

/** Below the pattern's fixed part, the same filter as a directory walk. */
function isExportFile(path: string): boolean {
  const parts = path.split(/[\\/]/);
  const dirs = parts.slice(0, -1);
  return EXPORT_FILE.test(parts[parts.length - 1] ?? "") && !dirs.some((p) => p === "manifests" || p.startsWith("."));
}
