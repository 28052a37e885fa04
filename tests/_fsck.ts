// Runs `deno task fsck` in-process (its own entry point, `maintain`) and reads its `--json`
// report, typed loosely: the report is the command's output.

import { assert } from "./_assert.ts";
import { parseArgs } from "../src/cli/args.ts";
import { maintain } from "../src/cli/maintain.ts";
import type { ObjectStore } from "../src/store/types.ts";

/** One finding of the `--json` report. */
export interface Finding {
  kind: string;
  severity: string;
  path?: string;
  detail: string;
  repaired?: boolean;
}

/** An hour, the time {@linkcode fsckCommand} runs after (by default). */
export const HOUR = 60 * 60 * 1000;

/**
 * Runs `deno task fsck --json [flags]` on `store`, `later` ms from now by fsck's clock: its
 * exit code and findings. The removing lease a repair may wait out once (30 s) is shortened
 * to 50 ms.
 */
export async function fsckCommand(
  store: ObjectStore,
  flags: string[] = [],
  later = HOUR,
): Promise<{ code: number; problems: Finding[] }> {
  const command = parseArgs(["fsck", "--json", ...flags]);
  assert(command.name === "fsck");
  const options = { now: Date.now() + later, removingLeaseMs: 50 };
  const { code, report } = await maintain(store, command, options);
  return { code, problems: JSON.parse(report).problems };
}

/** The leftover findings, by path. */
export function leftoversOf(problems: Finding[]): Map<string, Finding> {
  return new Map(problems.filter((p) => p.kind === "leftover").map((p) => [p.path ?? "", p]));
}
