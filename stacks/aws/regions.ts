/** AWS commercial regions with where they are, for the regions list of `drasyl-deploy init`. */
export const AWS_REGIONS: Record<string, string> = {
  "us-east-1": "N. Virginia, US",
  "us-east-2": "Ohio, US",
  "us-west-1": "N. California, US",
  "us-west-2": "Oregon, US",
  "ca-central-1": "Montreal, CA",
  "sa-east-1": "Sao Paulo, BR",
  "eu-central-1": "Frankfurt, DE",
  "eu-central-2": "Zurich, CH",
  "eu-west-1": "Dublin, IE",
  "eu-west-2": "London, GB",
  "eu-west-3": "Paris, FR",
  "eu-north-1": "Stockholm, SE",
  "eu-south-1": "Milan, IT",
  "eu-south-2": "Spain, ES",
  "me-central-1": "UAE, AE",
  "il-central-1": "Tel Aviv, IL",
  "af-south-1": "Cape Town, ZA",
  "ap-south-1": "Mumbai, IN",
  "ap-southeast-1": "Singapore, SG",
  "ap-southeast-2": "Sydney, AU",
  "ap-northeast-1": "Tokyo, JP",
  "ap-northeast-2": "Seoul, KR",
  "ap-northeast-3": "Osaka, JP",
  "ap-east-1": "Hong Kong, HK",
};

/** Small instance types worth offering first; any other type can be typed in the config. */
export const AWS_SMALL_INSTANCE_TYPES: { type: string; what: string }[] = [
  { type: "t3.micro", what: "2 vCPU (burstable), 1 GiB, x86" },
  { type: "t3.small", what: "2 vCPU (burstable), 2 GiB, x86" },
  { type: "t4g.micro", what: "2 vCPU (burstable), 1 GiB, Graviton Arm" },
  { type: "t4g.small", what: "2 vCPU (burstable), 2 GiB, Graviton Arm" },
];
