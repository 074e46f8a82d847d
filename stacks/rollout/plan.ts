/**
 * The order of a rollout, as data: which servers change, in which batches. Pure, so the dry run
 * prints exactly what the real run does, and a resumed run continues in the same order.
 */

/** One server as surveyed before the rollout: what runs there now and what the rollout would install. */
export interface SurveyedServer {
  name: string;
  region: string;
  /** The release `current` points to; undefined when drasyl-sp is not installed. */
  current?: string;
  /** The release this rollout installs on this server (ids differ per CPU architecture). */
  target: string;
  /** Whether the install plan has anything to do (release, unit, settings or a stopped service). */
  changes: boolean;
}

export interface RolloutOptions {
  /** The server upgraded (and gated) alone, before anything else. Default: the first one that changes. */
  canary?: string;
  /** How many servers after the canary are upgraded at once. Default 1. */
  batch?: number;
  /** A previous rollout's order (for --resume): servers keep their places, new ones go last. */
  order?: string[];
}

export interface Batch {
  index: number;
  canary: boolean;
  servers: string[];
}

export interface RolloutPlan {
  /** Every server, in the order the rollout handles them. */
  order: string[];
  batches: Batch[];
  /** Already running the target with nothing to change: left alone, not restarted. */
  unchanged: string[];
}

export class RolloutPlanError extends Error {
  override readonly name = "RolloutPlanError";
}

export function planRollout(servers: readonly SurveyedServer[], opts: RolloutOptions = {}): RolloutPlan {
  const batchSize = opts.batch ?? 1;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RolloutPlanError(`--batch must be a whole number of at least 1, got ${batchSize}`);
  const names = servers.map((s) => s.name);
  if (new Set(names).size !== names.length)
    throw new RolloutPlanError(`server names must be unique: ${names.join(", ")}`);
  const notInstalled = servers.filter((s) => s.current === undefined).map((s) => s.name);
  if (notInstalled.length > 0) {
    throw new RolloutPlanError(
      `no super peer is installed on ${notInstalled.join(", ")} yet: run "drasyl-deploy up" first (a rollout upgrades running super peers)`,
    );
  }
  if (opts.canary !== undefined && !names.includes(opts.canary)) {
    throw new RolloutPlanError(
      `--canary ${opts.canary} is not a server of this deployment; its servers: ${names.join(", ")}`,
    );
  }

  const rank = new Map((opts.order ?? []).map((n, i) => [n, i]));
  const configIndex = new Map(names.map((n, i) => [n, i]));
  // Previous order first (a resume must not reshuffle), then the config's order.
  const order = [...names].sort(
    (a, b) =>
      (rank.get(a) ?? Infinity) - (rank.get(b) ?? Infinity) || (configIndex.get(a) ?? 0) - (configIndex.get(b) ?? 0),
  );
  const byName = new Map(servers.map((s) => [s.name, s]));
  const changing = order.filter((n) => byName.get(n)?.changes);
  const unchanged = order.filter((n) => !byName.get(n)?.changes);

  const batches: Batch[] = [];
  let rest = changing;
  // A canary that has nothing to change already runs the release: it has proven itself.
  const canary = opts.canary !== undefined ? (changing.includes(opts.canary) ? opts.canary : undefined) : changing[0];
  if (canary !== undefined) {
    batches.push({ index: 0, canary: true, servers: [canary] });
    rest = changing.filter((n) => n !== canary);
  }
  for (let i = 0; i < rest.length; i += batchSize)
    batches.push({ index: batches.length, canary: false, servers: rest.slice(i, i + batchSize) });
  const canaryFirst = canary !== undefined ? [canary, ...order.filter((n) => n !== canary)] : order;
  return { order: canaryFirst, batches, unchanged };
}

/** For --dry-run and the start of a run: one line per batch, then what stays as it is. */
export function formatRolloutPlan(plan: RolloutPlan, servers: readonly SurveyedServer[]): string {
  const byName = new Map(servers.map((s) => [s.name, s]));
  const lines: string[] = [];
  if (plan.batches.length === 0)
    lines.push("nothing to roll out: every super peer already runs this release with these settings");
  for (const b of plan.batches) {
    const what = b.servers.map((n) => {
      const s = byName.get(n);
      return s ? `${n} (${s.region}: ${s.current ?? "-"} -> ${s.target})` : n;
    });
    lines.push(`batch ${b.index + 1}${b.canary ? " (canary)" : ""}: ${what.join(", ")}`);
  }
  for (const n of plan.unchanged) lines.push(`unchanged: ${n} (${byName.get(n)?.current ?? "-"})`);
  return `${lines.join("\n")}\n`;
}
