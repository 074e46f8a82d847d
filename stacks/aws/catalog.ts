import type { ServerArch } from "../provider.ts";

/** What drasyl-deploy knows about AWS without asking its API. Pure data, used by the config schema. */
export const AWS_DEFAULT_REGIONS = ["eu-central-1", "us-east-1", "ap-southeast-1"];
/** The smallest current burstable x86 type with 1 GiB, offered in every commercial region. */
export const AWS_DEFAULT_INSTANCE_TYPE = "t3.micro";
export const AWS_DEFAULT_IMAGE = "debian-12";

/** Debian's official AMIs are published by this account (https://wiki.debian.org/Cloud/AmazonEC2Image). */
export const DEBIAN_AMI_OWNER = "136693071363";
const IMAGES = { "debian-12": "debian-12", "debian-13": "debian-13" } as const;
export type AwsImage = keyof typeof IMAGES;

const REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;
const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;

export function checkRegion(region: string): string | undefined {
  return REGION.test(region) ? undefined : `"${region}" is not an AWS region name (e.g. eu-central-1)`;
}

export function checkInstanceType(type: string): string | undefined {
  return INSTANCE_TYPE.test(type) ? undefined : `"${type}" is not an EC2 instance type (e.g. t3.micro, t4g.micro)`;
}

export function checkAwsImage(image: string): string | undefined {
  return Object.hasOwn(IMAGES, image)
    ? undefined
    : `"${image}" is not a supported image: use ${Object.keys(IMAGES).join(" or ")}`;
}

/**
 * Graviton (arm64) families carry a "g" right after the generation digit (t4g, m7g, c6gn, im4gn,
 * x2gd, g5g), plus the first-generation a1. Everything else is x86_64.
 */
export function awsArch(instanceType: string): ServerArch {
  const family = instanceType.split(".")[0] ?? "";
  return family === "a1" || /^[a-z]+\d+g[a-z]*$/.test(family) ? "arm64" : "x64";
}

/** The name filter and architecture of the image's AMIs, e.g. debian-12-arm64-*. */
export function amiFilter(image: string, arch: ServerArch): { name: string; architecture: "x86_64" | "arm64" } {
  return arch === "arm64"
    ? { name: `${image}-arm64-*`, architecture: "arm64" }
    : { name: `${image}-amd64-*`, architecture: "x86_64" };
}

export type AwsRegionEntry = string | { region: string; instanceType?: string };

export interface AwsServerSpec {
  name: string;
  region: string;
  instanceType: string;
  image: string;
  arch: ServerArch;
}

/** The servers a target yields, one per region, named `<deployment>-<region>`. */
export function awsServerSpecs(
  deployment: string,
  target: { regions: AwsRegionEntry[]; instanceType?: string; image?: string },
): AwsServerSpec[] {
  return target.regions.map((entry) => {
    const e = typeof entry === "string" ? { region: entry } : entry;
    const instanceType = e.instanceType ?? target.instanceType ?? AWS_DEFAULT_INSTANCE_TYPE;
    return {
      name: `${deployment}-${e.region}`,
      region: e.region,
      instanceType,
      image: target.image ?? AWS_DEFAULT_IMAGE,
      arch: awsArch(instanceType),
    };
  });
}
