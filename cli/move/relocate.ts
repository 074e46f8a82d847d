import { isMap, isScalar, isSeq, parseDocument, type YAMLMap, type YAMLSeq } from "yaml";
import { dnsName, recordName } from "../../stacks/dns/naming.ts";
import { type DeployConfig, dnsRecordPins } from "../config/schema.ts";

/**
 * Where a super peer lives in the config, and the pure edits a move makes: of the parsed config
 * (what the providers see while both servers exist) and of the YAML text (what the operator keeps,
 * comments and layout untouched).
 */
export type MovableKind = "local" | "hcloud" | "aws";

/** One entry of a region list (local, hcloud, aws) or one server of an existing target. */
export type Place =
  | {
      type: "region";
      target: number;
      kind: MovableKind;
      /** The config key of the list: regions (local, aws) or locations (hcloud). */
      listKey: "regions" | "locations";
      /** The key inside an object entry: region (local, aws) or location (hcloud). */
      entryKey: "region" | "location";
      region: string;
    }
  | { type: "existing"; target: number; server: string };

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

function serverName(deployment: string, region: string): string {
  return `${deployment}-${region}`;
}

/** The server a place holds. */
export function serverAt(deployment: string, p: Place): string {
  return p.type === "region" ? serverName(deployment, p.region) : p.server;
}

/** How the place is written on the command line (`move ... --to`). */
export function placeLabel(p: Place): string {
  return p.type === "region" ? `${p.kind}:${p.region}` : `existing:${p.server}`;
}

function regionPlace(config: DeployConfig, target: number, region: string): Place | undefined {
  const t = config.targets[target];
  if (!t || t.kind === "existing") return undefined;
  const hcloud = t.kind === "hcloud";
  return {
    type: "region",
    target,
    kind: t.kind,
    listKey: hcloud ? "locations" : "regions",
    entryKey: hcloud ? "location" : "region",
    region,
  };
}

function regionList(config: DeployConfig, target: number): unknown[] {
  const t = config.targets[target];
  if (!t || t.kind === "existing") return [];
  return t.kind === "hcloud" ? t.locations : t.regions;
}

/** Where the server named `server` is in the config, if anywhere. */
export function findPlace(config: DeployConfig, server: string): Place | undefined {
  for (const [i, t] of config.targets.entries()) {
    if (t.kind === "existing") {
      if (t.servers.some((s) => s.name === server)) return { type: "existing", target: i, server };
      continue;
    }
    const region = regionList(config, i)
      .map(regionOf)
      .find((r) => r !== undefined && serverName(config.deployment, r) === server);
    if (region !== undefined) return regionPlace(config, i, region);
  }
  return undefined;
}

/**
 * The place `--to` names, seen from `from`: `REGION` is a region of the same target;
 * `KIND:REGION` a region of the (only) target of that kind; `existing:NAME` a server the config
 * already lists under an existing target.
 */
export function resolveDestination(config: DeployConfig, from: Place, to: string): Place {
  const colon = to.indexOf(":");
  if (colon < 0) {
    const here = from.type === "region" ? regionPlace(config, from.target, to) : undefined;
    if (!here)
      throw new MoveError(
        `--to ${to}: ${serverAt(config.deployment, from)} is an existing server, which has no regions; name the destination with its kind, e.g. --to local:${to} or --to existing:NAME`,
      );
    return here;
  }
  const kind = to.slice(0, colon);
  const name = to.slice(colon + 1);
  if (name === "") throw new MoveError(`--to ${to}: name the ${kind} region or server after the colon`);
  if (kind === "existing") {
    const p = findPlace(config, name);
    if (p?.type !== "existing")
      throw new MoveError(
        `--to ${to}: the config lists no existing server "${name}"; add it under a target of kind existing first (name, region, host), then move onto it`,
      );
    return p;
  }
  const targets = config.targets.flatMap((t, i) => (t.kind === kind ? [i] : []));
  if (!["local", "hcloud", "aws"].includes(kind))
    throw new MoveError(`--to ${to}: "${kind}" is no target kind; use local:, hcloud:, aws: or existing:`);
  if (targets.length === 0)
    throw new MoveError(
      `--to ${to}: the config has no target of kind ${kind}; add one (with its credentials settings), then move`,
    );
  // The server's own target when it is of that kind; otherwise the one target of that kind.
  const target = targets.includes(from.target) ? from.target : targets.length === 1 ? targets[0] : undefined;
  if (target === undefined)
    throw new MoveError(
      `--to ${to}: the config has ${targets.length} targets of kind ${kind}, and ${serverAt(config.deployment, from)} is on none of them; merge them into one target, then move`,
    );
  return regionPlace(config, target, name) as Place;
}

/** Whether the config already holds a server at the place (an existing server always is). */
export function placeExists(config: DeployConfig, p: Place): boolean {
  if (p.type === "existing") return findPlace(config, p.server)?.type === "existing";
  return regionList(config, p.target).some((e) => regionOf(e) === p.region);
}

/**
 * The config with a server at `to` besides the one at `from` (right after it when both are regions
 * of one target): both exist while the new one is proven. A new region entry copies the other
 * fields of `from`'s entry in the same target (server type, ...) but not its pinned DNS record.
 */
export function withBoth(config: DeployConfig, from: Place, to: Place): DeployConfig {
  if (to.type === "existing" || placeExists(config, to)) return config;
  const targets = config.targets.map((t, i) => {
    if (i !== to.target || t.kind === "existing") return t;
    const list = regionList(config, i);
    const at = from.type === "region" && from.target === i ? list.findIndex((e) => regionOf(e) === from.region) : -1;
    const model = at >= 0 ? list[at] : undefined;
    let added: unknown = to.region;
    if (model && typeof model === "object") {
      const { dnsRecord: _pin, ...rest } = model as Record<string, unknown>;
      added = { ...rest, [to.entryKey]: to.region };
    }
    const next = at >= 0 ? [...list.slice(0, at + 1), added, ...list.slice(at + 1)] : [...list, added];
    return { ...t, [to.listKey]: next } as typeof t;
  });
  return { ...config, targets };
}

/** The config with `dnsRecord` pinned on the server at `p` (in memory: the config while the record is switched). */
export function withPin(config: DeployConfig, p: Place, record: string): DeployConfig {
  const targets = config.targets.map((t, i) => {
    if (i !== p.target) return t;
    if (t.kind === "existing")
      return {
        ...t,
        servers: t.servers.map((s) => (p.type === "existing" && s.name === p.server ? { ...s, dnsRecord: record } : s)),
      };
    const list = regionList(config, i).map((e) => {
      if (p.type !== "region" || regionOf(e) !== p.region) return e;
      return { ...(typeof e === "object" ? e : {}), [p.entryKey]: p.region, dnsRecord: record };
    });
    return { ...t, [t.kind === "hcloud" ? "locations" : "regions"]: list } as typeof t;
  });
  return { ...config, targets } as DeployConfig;
}

function seqAt(doc: ReturnType<typeof parseDocument>, path: (string | number)[]): YAMLSeq {
  const node = doc.getIn(path, true);
  if (!isSeq(node)) throw new MoveError(`${path.join(".")} is not a list in the config file`);
  return node;
}

function indexOfPlace(seq: YAMLSeq, p: Place): number {
  return seq.items.findIndex((item) => {
    if (p.type === "existing") return isMap(item) && (item as YAMLMap).get("name") === p.server;
    return isScalar(item) ? item.value === p.region : isMap(item) && (item as YAMLMap).get(p.entryKey) === p.region;
  });
}

/**
 * The switch as a YAML edit: the super peer leaves `from` and is at `to`; `pin` is the DNS record
 * name it keeps when the new place would give it another. Within one region list the entry changes
 * in place (keeping its other fields); otherwise `from`'s entry goes (and its target, when it was
 * the last) and `to`'s is added or, for an existing server, pinned.
 */
export function switchInYaml(text: string, from: Place, to: Place, pin?: string): string {
  const doc = parseDocument(text);
  const fromPath = ["targets", from.target, from.type === "region" ? from.listKey : "servers"];
  const fromSeq = seqAt(doc, fromPath);
  const at = indexOfPlace(fromSeq, from);
  if (at < 0) throw new MoveError(`${fromPath.join(".")} has no entry for ${placeLabel(from)} in the config file`);

  const setEntry = (seq: YAMLSeq, idx: number, place: Place & { type: "region" }): void => {
    const item = seq.items[idx];
    if (isMap(item)) {
      (item as YAMLMap).set(place.entryKey, place.region);
      if (pin) (item as YAMLMap).set("dnsRecord", pin);
      else (item as YAMLMap).delete("dnsRecord");
    } else if (pin) {
      seq.items[idx] = doc.createNode({ [place.entryKey]: place.region, dnsRecord: pin }, { flow: true });
    } else if (isScalar(item)) item.value = place.region;
    else seq.items[idx] = doc.createNode(place.region);
  };

  if (from.type === "region" && to.type === "region" && from.target === to.target) {
    setEntry(fromSeq, at, to);
    return doc.toString();
  }
  if (to.type === "existing") {
    const toSeq = seqAt(doc, ["targets", to.target, "servers"]);
    const server = toSeq.items[indexOfPlace(toSeq, to)];
    if (!isMap(server))
      throw new MoveError(`targets.${to.target}.servers has no entry ${to.server} in the config file`);
    if (pin) (server as YAMLMap).set("dnsRecord", pin);
  } else {
    const toSeq = seqAt(doc, ["targets", to.target, to.listKey]);
    toSeq.items.push(doc.createNode(to.region));
    setEntry(toSeq, toSeq.items.length - 1, to);
  }
  fromSeq.items.splice(at, 1);
  if (fromSeq.items.length === 0) seqAt(doc, ["targets"]).items.splice(from.target, 1);
  return doc.toString();
}

/**
 * The DNS record name the super peer keeps when it moves from `from` to `to`: its name now, when
 * the new place would give it another. Undefined without a dns section, when the name stays the
 * same anyway, or when an operator-published name (an existing server's dnsName) is involved.
 */
export function keptRecord(config: DeployConfig, from: Place, to: Place): string | undefined {
  const dns = config.dns;
  if (!dns) return undefined;
  const deployment = config.deployment;
  const entry = (p: Place) => {
    const t = config.targets[p.target];
    return p.type === "existing" && t?.kind === "existing" ? t.servers.find((s) => s.name === p.server) : undefined;
  };
  if (entry(from)?.dnsName !== undefined || entry(to)?.dnsName !== undefined) return undefined;
  const server = serverAt(deployment, from);
  const region = (p: Place) => (p.type === "region" ? p.region : (entry(p)?.region ?? ""));
  const now = recordName(dns, { deployment, server, region: region(from), record: dnsRecordPins(config)[server] });
  const fresh = recordName(dns, { deployment, server: serverAt(deployment, to), region: region(to) });
  return now === fresh ? undefined : now;
}

/** The DNS name clients are given for the server at `p` (its own dnsName, else the dns section's), if any. */
export function clientName(config: DeployConfig, p: Place, pin?: string): string | undefined {
  const t = config.targets[p.target];
  const own = p.type === "existing" && t?.kind === "existing" ? t.servers.find((s) => s.name === p.server) : undefined;
  if (own?.dnsName) return own.dnsName;
  if (!config.dns) return undefined;
  const server = serverAt(config.deployment, p);
  const region = p.type === "region" ? p.region : (own?.region ?? "");
  return dnsName(config.dns, {
    deployment: config.deployment,
    server,
    region,
    record: pin ?? dnsRecordPins(config)[server],
  });
}
