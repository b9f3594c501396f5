import Table from "cli-table3";

/** Compact tables (no rule between rows) without colour codes, so output pipes and diffs cleanly. */
export function table(head: string[], align: ("left" | "right")[]): InstanceType<typeof Table> {
  return new Table({
    head,
    colAligns: align,
    style: { head: [], border: [], compact: true },
    chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
  });
}
