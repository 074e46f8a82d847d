import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CustomResourceOptions, Input, Output } from "@pulumi/pulumi";
import type { dynamic } from "@pulumi/pulumi";
import type { CloudProviderOptions, ProgramInputs } from "../../stacks/pulumi/cloud-provider.ts";
import { PulumiCloudProvider } from "../../stacks/pulumi/cloud-provider.ts";
import { HCLOUD_PROFILE } from "../../stacks/hcloud/profile.ts";
import { pulumiSdk } from "../../stacks/pulumi/sdk.ts";

/*
 * A stand-in for Hetzner Cloud that the real Pulumi engine drives: a directory on disk is the
 * cloud's API state, and dynamic resources (served by the pulumi-nodejs resource plugin in a Node
 * process the engine starts) create, update and delete records in it. Like Hetzner, the cloud
 * refuses a second resource of a kind with a name already taken (409 uniqueness_error) and wants
 * the API token (HCLOUD_TOKEN, which reaches the plugin only through the engine's environment).
 *
 * The engine serializes the provider's functions into the plugin process: they may use only
 * globals and what they load themselves (process.getBuiltinModule), nothing of this module.
 */

export interface StandInInputs {
  /** The cloud's directory. */
  cloud: string;
  kind: "ssh_key" | "firewall" | "primary_ip" | "server";
  name: string;
  /** Inputs whose change replaces the resource (a provider schema's ForceNew). */
  forceNew: string[];
  [prop: string]: unknown;
}

/** What the stand-in cloud holds for one resource. */
export interface CloudRecord {
  id: string;
  kind: string;
  name: string;
  inputs: Record<string, unknown>;
}

type Fs = typeof import("node:fs");

/**
 * A slow create or update: when the test put a gate file for the resource, the operation says so
 * in `<gate>.started` (its PID) and waits for `<gate>.open`. One operation only: the gate is used up.
 */
async function passGate(inputs: StandInInputs, request: string): Promise<void> {
  const fs = process.getBuiltinModule("node:fs") as Fs;
  const gate = `${inputs.cloud}/gates/${inputs.kind}-${inputs.name}`;
  if (!fs.existsSync(gate)) return;
  fs.rmSync(gate);
  fs.writeFileSync(`${gate}.started`, String(process.pid));
  const deadline = Date.now() + 120_000;
  while (!fs.existsSync(`${gate}.open`)) {
    if (Date.now() > deadline) throw new Error(`${request}: gave up waiting for ${gate}.open`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const standInProvider: dynamic.ResourceProvider = {
  async check(_olds: StandInInputs, news: StandInInputs) {
    return { inputs: news };
  },

  async diff(_id: string, olds: StandInInputs, news: StandInInputs) {
    const replaces = news.forceNew.filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
    // Otherwise "don't know": the engine diffs the inputs itself, and applies replaceOnChanges.
    return replaces.length > 0 ? { changes: true, replaces } : {};
  },

  async create(inputs: StandInInputs) {
    const fs = process.getBuiltinModule("node:fs") as Fs;
    const request = `POST /v1/${inputs.kind}s name=${inputs.name}`;
    // The token travels as an HTTP header; on failure the request is echoed with it, as a provider's debug output can.
    const token = process.env.HCLOUD_TOKEN ?? "";
    if (token !== fs.readFileSync(`${inputs.cloud}/token`, "utf8"))
      throw new Error(`${request} (Authorization: Bearer ${token}): 401 unauthorized: invalid token`);
    await passGate(inputs, request);
    fs.mkdirSync(`${inputs.cloud}/${inputs.kind}`, { recursive: true });
    const file = `${inputs.cloud}/${inputs.kind}/${inputs.name}.json`;
    if (fs.existsSync(file))
      throw new Error(`${request}: 409 uniqueness_error: name is already used (${inputs.kind} ${inputs.name})`);
    const id = String(Date.now() % 1e9) + String(Math.floor(Math.random() * 1000)).padStart(3, "0");
    const { __provider: _code, ...record } = inputs;
    const outs: Record<string, unknown> = { ...record };
    if (inputs.kind === "primary_ip") {
      const n = [...inputs.name].reduce((a, c) => (a * 31 + c.charCodeAt(0)) % 250, 7) + 1;
      outs.address = inputs.type === "ipv6" ? `2001:db8:${n}::1` : `198.51.100.${n}`;
    }
    fs.writeFileSync(file, JSON.stringify({ id, kind: inputs.kind, name: inputs.name, inputs: outs }));
    return { id, outs };
  },

  async update(id: string, olds: StandInInputs, news: StandInInputs) {
    const fs = process.getBuiltinModule("node:fs") as Fs;
    await passGate(news, `PUT /v1/${news.kind}s/${id}`);
    const file = `${news.cloud}/${news.kind}/${news.name}.json`;
    const { __provider: _code, ...record } = news;
    const outs: Record<string, unknown> = {
      ...record,
      ...(olds.address === undefined ? {} : { address: olds.address }),
    };
    fs.writeFileSync(file, JSON.stringify({ id, kind: news.kind, name: news.name, inputs: outs }));
    return { outs };
  },

  async delete(id: string, props: StandInInputs) {
    const fs = process.getBuiltinModule("node:fs") as Fs;
    const file = `${props.cloud}/${props.kind}/${props.name}.json`;
    if (fs.existsSync(file) && (JSON.parse(fs.readFileSync(file, "utf8")) as { id: string }).id === id) fs.rmSync(file);
  },
};

type StandInOutputs = Record<string, Output<unknown>> & { id: Output<string> };

/** One stand-in resource; its type reads like the cloud's (`pulumi-nodejs:dynamic/hcloud:Server`). */
function standIn(
  type: string,
  name: string,
  inputs: { [K in keyof StandInInputs]: Input<StandInInputs[K]> },
  outputs: string[],
  opts: CustomResourceOptions = {},
): StandInOutputs {
  const pulumi = pulumiSdk();
  class StandIn extends pulumi.dynamic.Resource {
    constructor() {
      super(
        standInProvider,
        name,
        { ...Object.fromEntries(outputs.map((o) => [o, undefined])), ...inputs },
        opts,
        "hcloud",
        type,
      );
    }
  }
  return new StandIn() as unknown as StandInOutputs;
}

export interface StandInServer {
  location: string;
  serverType: string;
}

export interface StandInProviderOptions extends CloudProviderOptions {
  cloud: string;
  servers: StandInServer[];
}

/**
 * A PulumiCloudProvider whose program is the Hetzner program's shape in stand-in resources: one
 * SSH key (deleted before its replacement) and one firewall, and per location a primary IP and a
 * server that is replaced on a server type change, keeping the primary IP.
 */
export class StandInCloudProvider extends PulumiCloudProvider {
  readonly profile = HCLOUD_PROFILE;

  constructor(private readonly o: StandInProviderOptions) {
    super(o);
  }

  protected serverList(): { name: string; region: string; detail: string }[] {
    return this.o.servers.map((s) => ({
      name: `${this.o.state.deployment}-${s.location}`,
      region: s.location,
      detail: `${s.serverType} in ${s.location}`,
    }));
  }

  protected program(inputs: ProgramInputs): () => Promise<Record<string, unknown>> {
    return async () => {
      const pulumi = pulumiSdk();
      const { cloud } = this.o;
      const { deployment } = this.o.state;
      const key = standIn(
        "SshKey",
        "ssh-key",
        {
          cloud,
          kind: "ssh_key",
          name: `drasyl-deploy-${deployment}`,
          publicKey: inputs.sshPublicKey,
          forceNew: ["publicKey"],
        },
        [],
        {
          deleteBeforeReplace: true,
        },
      );
      const firewall = standIn(
        "Firewall",
        "firewall",
        { cloud, kind: "firewall", name: `${deployment}-firewall`, sshSources: inputs.sshSources, forceNew: [] },
        [],
      );
      const servers = this.o.servers.map((s) => {
        const ip = standIn(
          "PrimaryIp",
          `${s.location}-ipv4`,
          {
            cloud,
            kind: "primary_ip",
            name: `${deployment}-${s.location}-ipv4`,
            type: "ipv4",
            location: s.location,
            forceNew: ["location"],
          },
          ["address"],
          {
            deleteBeforeReplace: true,
          },
        );
        const server = standIn(
          "Server",
          `${s.location}-server`,
          {
            cloud,
            kind: "server",
            name: `${deployment}-${s.location}`,
            serverType: s.serverType,
            location: s.location,
            ipv4: ip.address,
            sshKey: key.id,
            firewall: firewall.id,
            forceNew: ["location", "sshKey"],
          },
          ["ipv4"],
          { deleteBeforeReplace: true, replaceOnChanges: ["serverType"] },
        );
        return {
          name: `${deployment}-${s.location}`,
          region: s.location,
          ipv4: server.ipv4,
          ipv6: "",
          arch: "x64",
          sshUser: this.o.target.sshUser,
        };
      });
      return { servers: pulumi.output(servers) };
    };
  }
}

/** Everything the stand-in cloud holds, by kind and name. */
export function cloudRecords(cloud: string): Record<string, CloudRecord> {
  const out: Record<string, CloudRecord> = {};
  for (const kind of ["ssh_key", "firewall", "primary_ip", "server"]) {
    const dir = join(cloud, kind);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).sort()) {
      const r = JSON.parse(readFileSync(join(dir, f), "utf8")) as CloudRecord;
      out[`${kind}/${r.name}`] = r;
    }
  }
  return out;
}

/**
 * Makes the next create or update of a resource wait, as a slow server create does: `started` resolves with
 * the plugin process's PID once the create is under way, `open()` lets it call the cloud.
 */
export function gate(
  cloud: string,
  kind: StandInInputs["kind"],
  name: string,
): { started: (ms?: number) => Promise<number>; open: () => void } {
  const path = join(cloud, "gates", `${kind}-${name}`);
  mkdirSync(join(cloud, "gates"), { recursive: true });
  writeFileSync(path, "");
  return {
    started: async (ms = 60_000) => {
      const deadline = Date.now() + ms;
      while (!existsSync(`${path}.started`)) {
        if (Date.now() > deadline) throw new Error(`the create of ${kind} ${name} did not start within ${ms} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return Number(readFileSync(`${path}.started`, "utf8"));
    },
    open: () => writeFileSync(`${path}.open`, ""),
  };
}

export function newStandInCloud(dir: string, token: string): string {
  writeFileSync(join(dir, "token"), token);
  return dir;
}
