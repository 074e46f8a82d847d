import type { HcloudTargetConfig } from "../../cli/config/schema.ts";
import { type CloudProviderOptions, type ProgramInputs, PulumiCloudProvider } from "../pulumi/cloud-provider.ts";
import { type HcloudServerSpec, hcloudServerSpecs } from "./catalog.ts";

export interface HcloudProviderOptions extends Omit<CloudProviderOptions, "sshUser" | "allowSsh" | "backend"> {
  target: HcloudTargetConfig;
}

/**
 * Hetzner Cloud servers, one per location, created and updated by a Pulumi stack per deployment.
 * Credentials: HCLOUD_TOKEN in the environment, handed to the engine and nowhere else.
 */
export class HcloudProvider extends PulumiCloudProvider {
  readonly kind = "hcloud" as const;
  private readonly specs: HcloudServerSpec[];

  constructor(opts: HcloudProviderOptions) {
    const { target, ...rest } = opts;
    super({ ...rest, sshUser: target.sshUser, ...(target.allowSsh ? { allowSsh: target.allowSsh } : {}), ...(target.backend ? { backend: target.backend } : {}) });
    this.specs = hcloudServerSpecs(opts.deployment, target);
  }

  protected serverList(): { name: string; region: string; detail: string }[] {
    return this.specs.map((s) => ({ name: s.name, region: s.location, detail: `${s.serverType} (${s.arch}), ${s.image}, in ${s.location}` }));
  }

  protected program(inputs: ProgramInputs): () => Promise<Record<string, unknown>> {
    return async () => {
      const { hcloudProgram } = await import("./program.ts");
      return { ...hcloudProgram({ deployment: this.opts.deployment, servers: this.specs, sshUser: this.opts.sshUser, ports: this.opts.ports, metrics: this.opts.metrics, ...inputs }) };
    };
  }
}
