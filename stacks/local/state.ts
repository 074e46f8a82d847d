import { existsSync, readFileSync } from "node:fs";
import { z } from "zod";
import { writeFileAtomic } from "../../sp-runtime/util/atomic-write.ts";
import { LabError } from "./run.ts";

const HostRecord = z.object({
  name: z.string(),
  region: z.string(),
  /** Short hash naming the machine-wide resources (netns, veth, cgroup) within interface-name limits. */
  id: z.string().regex(/^[0-9a-f]{8}$/),
  /** Host part of the addresses on the lab bridge; kept so a host keeps its IPs across re-runs. */
  index: z.number().int().min(2).max(254),
});
export type HostRecord = z.infer<typeof HostRecord>;

const LabState = z.object({
  version: z.literal(1),
  deployment: z.string(),
  hosts: z.array(HostRecord),
});
export type LabState = z.infer<typeof LabState>;

/**
 * A deployment's lab hosts. A host is recorded here before any of its resources exist, so that
 * destroy and a re-run of apply find and clean up hosts a crash left half-created.
 */
export function readState(file: string): LabState | undefined {
  if (!existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new LabError(`lab state ${file} is not valid JSON (${(e as Error).message}); fix or delete it`);
  }
  const parsed = LabState.safeParse(raw);
  if (!parsed.success)
    throw new LabError(
      `lab state ${file} has an unexpected shape: ${parsed.error.issues[0]?.message ?? "invalid"}; fix or delete it`,
    );
  return parsed.data;
}

export function writeState(file: string, state: LabState): void {
  writeFileAtomic(file, `${JSON.stringify(state, null, 2)}\n`);
}
