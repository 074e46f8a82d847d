import type * as HcloudModule from "@pulumi/hcloud";
import { requirePackage } from "../pulumi/sdk.ts";

export type Hcloud = typeof HcloudModule;

/** @pulumi/hcloud, loaded on first use (see stacks/pulumi/sdk.ts). */
export function hcloudSdk(): Hcloud {
  return requirePackage("@pulumi/hcloud") as Hcloud;
}
