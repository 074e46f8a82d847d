import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../../sp-runtime/util/atomic-write.ts";
import { withLock } from "./lock.ts";
import { hostTag, netnsExists } from "./network.ts";
import { LabError } from "./run.ts";
import { readState } from "./state.ts";

/**
 * Machine-wide bookkeeping shared by every lab deployment on this machine, whatever state dir it
 * uses: which host ids and bridge addresses are taken. The bridge, netns names and addresses are
 * machine-wide, so two deployments (two test files running in parallel) must not pick the same.
 */
const RUN_DIR = "/run/drasyl-deploy/lab";
const CLAIMS = join(RUN_DIR, "hosts");
export const FIRST_INDEX = 2;
export const LAST_INDEX = 254;

const Claim = z.object({ stateFile: z.string(), name: z.string(), index: z.number().int() });
type Claim = z.infer<typeof Claim>;

/** Serializes claims and bridge setup/teardown between all lab users on this machine. */
export function withMachineLock<T>(fn: () => Promise<T>): Promise<T> {
  mkdirSync(CLAIMS, { recursive: true, mode: 0o700 });
  return withLock(join(RUN_DIR, "lock"), "lab network", fn, 120_000);
}

/**
 * Claims that are still valid. A claim whose deployment no longer records that host (it was
 * destroyed, or its apply was interrupted before recording it) and whose network namespace is
 * gone is stale and dropped. Call with the machine lock held.
 */
export function liveClaims(): Map<string, Claim> {
  const claims = new Map<string, Claim>();
  for (const f of readdirSync(CLAIMS)) {
    if (!f.endsWith(".json")) continue;
    const id = f.slice(0, -5);
    const path = join(CLAIMS, f);
    let claim: Claim | undefined;
    try {
      claim = Claim.parse(JSON.parse(readFileSync(path, "utf8")));
      const owner = readState(claim.stateFile);
      const recorded = owner?.hosts.some((h) => h.id === id && h.index === claim?.index) ?? false;
      // A host whose state was deleted under it (rm -rf of a state dir) may still run with the address.
      if (!recorded && !netnsExists(hostTag(id))) claim = undefined;
    } catch {
      claim = undefined;
    }
    if (claim) claims.set(id, claim);
    else rmSync(path, { force: true });
  }
  return claims;
}

/**
 * Claims host `id` for `stateFile` and returns its address index: the one it had (so IPs survive
 * re-runs), else one derived from the id, else the next free one. Call with the machine lock held.
 */
export function claimHost(
  claims: Map<string, Claim>,
  id: string,
  name: string,
  stateFile: string,
  previous: number | undefined,
): number {
  const own = claims.get(id);
  if (own && own.stateFile !== stateFile) {
    throw new LabError(
      `lab host ${name} (id ${id}) already belongs to the deployment recorded in ${own.stateFile}; destroy it there or use another deployment name`,
    );
  }
  const taken = new Set([...claims.entries()].filter(([other]) => other !== id).map(([, c]) => c.index));
  const span = LAST_INDEX - FIRST_INDEX + 1;
  const start = previous ?? own?.index ?? FIRST_INDEX + (Number.parseInt(id, 16) % span);
  for (let i = 0; i < span; i++) {
    const index = FIRST_INDEX + ((start - FIRST_INDEX + i) % span);
    if (taken.has(index)) continue;
    const claim: Claim = { stateFile, name, index };
    writeFileAtomic(join(CLAIMS, `${id}.json`), JSON.stringify(claim));
    claims.set(id, claim);
    return index;
  }
  throw new LabError(`the lab network is full (${span} hosts); destroy lab deployments you no longer need`);
}

export function releaseHost(id: string): void {
  rmSync(join(CLAIMS, `${id}.json`), { force: true });
}

export function anyClaims(): boolean {
  return existsSync(CLAIMS) && liveClaims().size > 0;
}
