import { describe, expect, it } from "vitest";
import { parseConfig } from "../cli/config/load.ts";
import { serverNames } from "../cli/config/schema.ts";
import { findSite, replaceRegionInYaml, withBoth } from "../cli/move/relocate.ts";

const YAML = `# my super peers
deployment: dep
targets:
  - kind: existing
    servers:
      - { name: fixed, region: eu, host: 192.0.2.1 }
  - kind: local   # lab
    regions: [r1, r2]  # two regions
`;

describe("move: the config edits", () => {
  it("finds the target of a region and lists both servers while the new one is proven", () => {
    const config = parseConfig(YAML, "c.yaml");
    const site = findSite(config, "r1");
    expect(site).toEqual({ target: 1, kind: "local", listKey: "regions", entryKey: "region" });
    expect(findSite(config, "eu")).toBeUndefined();
    expect(serverNames(withBoth(config, site!, "r1", "r9"))).toEqual(["fixed", "dep-r1", "dep-r9", "dep-r2"]);
    expect(serverNames(config)).toEqual(["fixed", "dep-r1", "dep-r2"]);
  });

  it("replaces the region in the YAML and keeps the comments and the rest", () => {
    const config = parseConfig(YAML, "c.yaml");
    const out = replaceRegionInYaml(YAML, findSite(config, "r1")!, "r1", "r9");
    // yaml re-renders spacing, but the comments and every other entry stay.
    for (const kept of ["# my super peers", "# lab", "# two regions", "{ name: fixed, region: eu, host: 192.0.2.1 }"])
      expect(out).toContain(kept);
    expect(out).toMatch(/regions: \[ ?r9, r2 ?\]/);
    expect(serverNames(parseConfig(out, "c.yaml"))).toEqual(["fixed", "dep-r9", "dep-r2"]);
  });

  it("keeps the other fields of an object entry (hcloud location with its server type)", () => {
    const text =
      "deployment: dep\ntargets:\n  - kind: hcloud\n    locations:\n      - { location: fsn1, serverType: cx22 }\n      - nbg1\n";
    const config = parseConfig(text, "c.yaml");
    const site = findSite(config, "fsn1")!;
    expect(site.listKey).toBe("locations");
    const out = replaceRegionInYaml(text, site, "fsn1", "hel1");
    expect(out).toContain("{ location: hel1, serverType: cx22 }");
    const both = withBoth(config, site, "fsn1", "hel1");
    expect(both.targets[0]).toMatchObject({
      locations: [{ location: "fsn1", serverType: "cx22" }, { location: "hel1", serverType: "cx22" }, "nbg1"],
    });
  });
});
