import type * as AwsModule from "@pulumi/aws";
import { requirePackage } from "../pulumi/sdk.ts";

export type Aws = typeof AwsModule;

/** @pulumi/aws, loaded on first use (see stacks/pulumi/sdk.ts). */
export function awsSdk(): Aws {
  return requirePackage("@pulumi/aws") as Aws;
}
