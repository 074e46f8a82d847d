import type { HcloudTargetConfig } from "./config.ts";
import { type CloudProviderOptions, type ProgramInputs, PulumiCloudProvider } from "../pulumi/cloud-provider.ts";
import { HCLOUD_PROFILE } from "./profile.ts";
import { type HcloudServerSpec, hcloudServerSpecs } from "./catalog.ts";

/**
 * Hetzner Cloud servers, one per location, created and updated by a Pulumi stack per deployment.
 * Credentials: HCLOUD_TOKEN in the environment, handed to the engine and nowhere else.
 */
export class HcloudProvider extends PulumiCloudProvider<HcloudTargetConfig> {
  readonly profile = HCLOUD_PROFILE;
  private readonly specs: HcloudServerSpec[];

  constructor(opts: CloudProviderOptions<HcloudTargetConfig>) {
    super(opts);
    this.specs = hcloudServerSpecs(opts.state.deployment, opts.target);
  }

  protected serverList(): { name: string; region: string; detail: string }[] {
    return this.specs.map((s) => ({
      name: s.name,
      region: s.location,
      detail: `${s.serverType} (${s.arch}), ${s.image}, in ${s.location}`,
    }));
  }

  protected program(inputs: ProgramInputs): () => Promise<Record<string, unknown>> {
    return async () => {
      const { hcloudProgram } = await import("./program.ts");
      return {
        ...hcloudProgram({
          deployment: this.opts.state.deployment,
          servers: this.specs,
          sshUser: this.opts.target.sshUser,
          ports: this.opts.ports,
          metrics: this.opts.metrics,
          ...inputs,
        }),
      };
    };
  }
}
