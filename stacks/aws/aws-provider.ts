import type { AwsTargetConfig } from "../../cli/config/schema.ts";
import { type CloudProviderOptions, type ProgramInputs, PulumiCloudProvider } from "../pulumi/cloud-provider.ts";
import { type AwsServerSpec, awsServerSpecs } from "./catalog.ts";

export interface AwsProviderOptions extends Omit<CloudProviderOptions, "sshUser" | "allowSsh" | "backend"> {
  target: AwsTargetConfig;
}

/**
 * EC2 instances, one per region, all in one Pulumi stack per deployment (AWS provider v7 gives
 * every resource its own region). Credentials: the AWS SDK's usual environment variables and
 * profiles, handed to the engine and nowhere else.
 */
export class AwsProvider extends PulumiCloudProvider {
  readonly kind = "aws" as const;
  private readonly specs: AwsServerSpec[];

  constructor(opts: AwsProviderOptions) {
    const { target, ...rest } = opts;
    super({ ...rest, sshUser: target.sshUser, ...(target.allowSsh ? { allowSsh: target.allowSsh } : {}), ...(target.backend ? { backend: target.backend } : {}) });
    this.specs = awsServerSpecs(opts.deployment, target);
  }

  protected serverList(): { name: string; region: string; detail: string }[] {
    return this.specs.map((s) => ({ name: s.name, region: s.region, detail: `${s.instanceType} (${s.arch}), ${s.image}, in ${s.region}` }));
  }

  protected program(inputs: ProgramInputs): () => Promise<Record<string, unknown>> {
    return async () => {
      const { awsProgram } = await import("./program.ts");
      return { ...awsProgram({ deployment: this.opts.deployment, servers: this.specs, sshUser: this.opts.sshUser, ports: this.opts.ports, metrics: this.opts.metrics, ...inputs }) };
    };
  }
}
