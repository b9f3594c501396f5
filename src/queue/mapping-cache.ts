import { loadMappingSet, MappingLoadError, type MappingSet } from "../mapping/index.js";

export interface LoadedMappings {
  set: MappingSet;
  /** Set when the files on disk are invalid and the last good set was used instead. */
  rejected?: string;
}

/**
 * The worker reads mapping files for every ingest job, so an edit applies to the next sync
 * without a restart; an invalid edit is refused and the last good set of that path keeps
 * billing (with the refusal reported), rather than stopping billing or billing by a broken policy.
 */
export class MappingCache {
  private readonly lastGood = new Map<string, MappingSet>();

  async load(path: string): Promise<LoadedMappings> {
    try {
      const set = await loadMappingSet(path);
      this.lastGood.set(path, set);
      return { set };
    } catch (e) {
      const good = this.lastGood.get(path);
      if (!(e instanceof MappingLoadError) || !good) throw e;
      return { set: good, rejected: `mapping edit refused, still billing with the last good set (${good.mappings.map((m) => `${m.name}@${m.version}`).join(", ")}): ${e.message}` };
    }
  }
}
