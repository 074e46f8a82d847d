import type { Register } from "../options.ts";
import { installPulumiCli } from "../../stacks/pulumi/preflight.ts";

export const registerInstallPulumi: Register = (program) => {
  program
    .command("install-pulumi")
    .description(
      "download the Pulumi CLI that matches drasyl-deploy's SDK into ~/.pulumi/versions (needs internet access to get.pulumi.com)",
    )
    .action(async () => {
      const cli = await installPulumiCli();
      process.stderr.write(`Pulumi CLI ${cli.version?.toString() ?? ""} installed at ${cli.command}\n`);
    });
};
