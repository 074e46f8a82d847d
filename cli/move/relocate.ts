import { isMap, isScalar, isSeq, parseDocument, type YAMLMap } from "yaml";
import type { DeployConfig } from "../config/schema.ts";

/**
 * A move changes one entry of a target's region list. These are pure edits: of the parsed config
 * (what the provider sees while both servers exist) and of the YAML text (what the operator keeps,
 * comments and layout untouched).
 */
export type MovableKind = "local" | "hcloud" | "aws";

export interface MoveSite {
  target: number;
  kind: MovableKind;
  /** The config key of the list: regions (local, aws) or locations (hcloud). */
  listKey: "regions" | "locations";
  /** The key inside an object entry: region (aws) or location (hcloud). */
  entryKey: "region" | "location";
}

export class MoveError extends Error {
  override readonly name = "MoveError";
}

function regionOf(entry: unknown): string | undefined {
  if (typeof entry === "string") return entry;
  if (entry && typeof entry === "object") {
    const e = entry as { region?: string; location?: string };
    return e.region ?? e.location;
  }
  return undefined;
}

export function serverName(deployment: string, region: string): string {
  return `${deployment}-${region}`;
}

/** The target holding `region`, if any target of a kind that creates servers per region does. */
export function findSite(config: DeployConfig, region: string): MoveSite | undefined {
  for (const [i, t] of config.targets.entries()) {
    if (t.kind === "existing") continue;
    const list: unknown[] = t.kind === "hcloud" ? t.locations : t.regions;
    if (list.some((e) => regionOf(e) === region))
      return {
        target: i,
        kind: t.kind,
        listKey: t.kind === "hcloud" ? "locations" : "regions",
        entryKey: t.kind === "hcloud" ? "location" : "region",
      };
  }
  return undefined;
}

/** The config with `to` added next to `from` in the site's list: both servers exist while the new one is proven. */
export function withBoth(config: DeployConfig, site: MoveSite, from: string, to: string): DeployConfig {
  const targets = config.targets.map((t, i) => {
    if (i !== site.target || t.kind === "existing") return t;
    const list: unknown[] = t.kind === "hcloud" ? t.locations : t.regions;
    if (list.some((e) => regionOf(e) === to)) return t;
    const at = list.findIndex((e) => regionOf(e) === from);
    const old = list[at];
    const added = typeof old === "string" || old === undefined ? to : { ...(old as object), [site.entryKey]: to };
    const next = [...list.slice(0, at + 1), added, ...list.slice(at + 1)];
    return { ...t, [site.listKey]: next } as typeof t;
  });
  return { ...config, targets };
}

/** The YAML text with the entry for `from` changed to `to` (an object entry keeps its other fields). */
export function replaceRegionInYaml(text: string, site: MoveSite, from: string, to: string): string {
  const doc = parseDocument(text);
  const list = doc.getIn(["targets", site.target, site.listKey], true);
  if (!isSeq(list)) throw new MoveError(`targets[${site.target}].${site.listKey} is not a list in the config file`);
  const idx = list.items.findIndex((item) =>
    isScalar(item) ? item.value === from : isMap(item) && (item as YAMLMap).get(site.entryKey) === from,
  );
  if (idx < 0) throw new MoveError(`targets[${site.target}].${site.listKey} has no entry ${from}`);
  const item = list.items[idx];
  if (isScalar(item)) item.value = to;
  else (item as YAMLMap).set(site.entryKey, to);
  return doc.toString();
}
