import type { AwsTargetConfig } from "./config.ts";
import { type CloudProviderOptions, type ProgramInputs, PulumiCloudProvider } from "../pulumi/cloud-provider.ts";
import { AWS_PROFILE } from "./profile.ts";
import { type AwsServerSpec, awsServerSpecs } from "./catalog.ts";

/**
 * EC2 instances, one per region, all in one Pulumi stack per deployment (AWS provider v7 gives
 * every resource its own region). Credentials: the AWS SDK's usual environment variables and
 * profiles, handed to the engine and nowhere else.
 */
export class AwsProvider extends PulumiCloudProvider<AwsTargetConfig> {
  readonly profile = AWS_PROFILE;
  private readonly specs: AwsServerSpec[];

  constructor(opts: CloudProviderOptions<AwsTargetConfig>) {
    super(opts);
    this.specs = awsServerSpecs(opts.state.deployment, opts.target);
  }

  protected serverList(): { name: string; region: string; detail: string }[] {
    return this.specs.map((s) => ({
      name: s.name,
      region: s.region,
      detail: `${s.instanceType} (${s.arch}), ${s.image}, in ${s.region}`,
    }));
  }

  protected program(inputs: ProgramInputs): () => Promise<Record<string, unknown>> {
    return async () => {
      const { awsProgram } = await import("./program.ts");
      return {
        ...awsProgram({
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
