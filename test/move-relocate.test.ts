import { describe, expect, it } from "vitest";
import { parseConfig } from "../cli/config/load.ts";
import { type MoveJournal, serverTakenByMove } from "../stacks/state/move-journal.ts";
import { dnsRecordPins, serverNames } from "../cli/config/schema.ts";
import {
  clientName,
  findPlace,
  keptRecord,
  type Place,
  resolveDestination,
  switchInYaml,
  withBoth,
  withPin,
} from "../cli/move/relocate.ts";

const YAML = `# my super peers
deployment: dep
targets:
  - kind: existing
    servers:
      - { name: fixed, region: eu, host: 192.0.2.1 }
  - kind: local   # lab
    regions: [r1, r2]  # two regions
`;

const DNS = "dns: { zone: example.org, provider: none }\n";
const parse = (text: string) => parseConfig(text, "c.yaml");
const place = (text: string, server: string) => findPlace(parse(text), server) as Place;

describe("move: where a super peer is and where it goes", () => {
  it("finds the place of a region's and an existing server, and lists both servers while the new one is proven", () => {
    const config = parse(YAML);
    const from = place(YAML, "dep-r1");
    expect(from).toEqual({
      type: "region",
      target: 1,
      kind: "local",
      listKey: "regions",
      entryKey: "region",
      region: "r1",
    });
    expect(findPlace(config, "fixed")).toEqual({ type: "existing", target: 0, server: "fixed" });
    expect(findPlace(config, "dep-eu")).toBeUndefined();
    const to = resolveDestination(config, from, "r9");
    expect(serverNames(withBoth(config, from, to))).toEqual(["fixed", "dep-r1", "dep-r9", "dep-r2"]);
    expect(resolveDestination(config, from, "local:r9")).toEqual(to);
    expect(serverNames(config)).toEqual(["fixed", "dep-r1", "dep-r2"]);
    // An existing server is there already: the config as it is holds both.
    const onto = resolveDestination(config, from, "existing:fixed");
    expect(onto).toEqual({ type: "existing", target: 0, server: "fixed" });
    expect(withBoth(config, from, onto)).toBe(config);
    // From an existing server to a region of the local target.
    expect(serverNames(withBoth(config, onto, resolveDestination(config, onto, "local:r7")))).toEqual([
      "fixed",
      "dep-r1",
      "dep-r2",
      "dep-r7",
    ]);
  });

  it("says what is wrong with a destination", () => {
    const config = parse(YAML);
    const from = place(YAML, "dep-r1");
    expect(() => resolveDestination(config, from, "existing:nope")).toThrow(
      /--to existing:nope: the config lists no existing server "nope"; add it under a target of kind existing first/,
    );
    expect(() => resolveDestination(config, from, "hcloud:fsn1")).toThrow(
      /--to hcloud:fsn1: the config has no target of kind hcloud; add one/,
    );
    expect(() => resolveDestination(config, from, "gcp:x")).toThrow(/"gcp" is no target kind/);
    expect(() => resolveDestination(config, from, "local:")).toThrow(/name the local region or server after the colon/);
    expect(() => resolveDestination(config, place(YAML, "fixed"), "r3")).toThrow(
      /fixed is an existing server, which has no regions; name the destination with its kind, e\.g\. --to local:r3/,
    );
  });

  it("keeps the other fields of an object entry (hcloud location with its server type), but not its pinned name", () => {
    const text =
      "deployment: dep\ndns: { zone: example.org, provider: hcloud }\ntargets:\n  - kind: hcloud\n    locations:\n      - { location: fsn1, serverType: cx22, dnsRecord: sp-old }\n      - nbg1\n";
    const config = parse(text);
    const from = place(text, "dep-fsn1");
    const to = resolveDestination(config, from, "hel1");
    expect(keptRecord(config, from, to)).toBe("sp-old");
    const out = switchInYaml(text, from, to, "sp-old");
    expect(out).toContain("{ location: hel1, serverType: cx22, dnsRecord: sp-old }");
    expect(withBoth(config, from, to).targets[0]).toMatchObject({
      locations: [
        { location: "fsn1", serverType: "cx22", dnsRecord: "sp-old" },
        { location: "hel1", serverType: "cx22" },
        "nbg1",
      ],
    });
    expect(dnsRecordPins(withPin(withBoth(config, from, to), to, "sp-old"))).toMatchObject({ "dep-hel1": "sp-old" });
  });
});

describe("move: the switch in the YAML", () => {
  it("replaces the region in place and keeps the comments and the rest; without dns no name is pinned", () => {
    const config = parse(YAML);
    const from = place(YAML, "dep-r1");
    const to = resolveDestination(config, from, "r9");
    expect(keptRecord(config, from, to)).toBeUndefined();
    const out = switchInYaml(YAML, from, to);
    // yaml re-renders spacing, but the comments and every other entry stay.
    for (const kept of ["# my super peers", "# lab", "# two regions", "{ name: fixed, region: eu, host: 192.0.2.1 }"])
      expect(out).toContain(kept);
    expect(out).toMatch(/regions: \[ ?r9, r2 ?\]/);
    expect(serverNames(parse(out))).toEqual(["fixed", "dep-r9", "dep-r2"]);
  });

  it("with dns the moved entry keeps its name; moving back to where the name came from drops the pin", () => {
    const text = `deployment: dep\n${DNS}targets:\n  - kind: local\n    regions: [r1, r2]\n`;
    const config = parse(text);
    const from = place(text, "dep-r1");
    const to = resolveDestination(config, from, "r3");
    expect(keptRecord(config, from, to)).toBe("sp-r1");
    const out = switchInYaml(text, from, to, "sp-r1");
    expect(out).toMatch(/regions: \[ ?\{ region: r3, dnsRecord: sp-r1 \}, r2 ?\]/);
    const moved = parse(out);
    expect(dnsRecordPins(moved)).toEqual({ "dep-r3": "sp-r1" });

    const back = resolveDestination(moved, place(out, "dep-r3"), "r1");
    expect(keptRecord(moved, place(out, "dep-r3"), back)).toBeUndefined();
    const again = switchInYaml(out, place(out, "dep-r3"), back);
    expect(again).toMatch(/regions: \[ ?\{ region: r1 \}, r2 ?\]/);
    expect(dnsRecordPins(parse(again))).toEqual({});
    // With a name that does not depend on the region nothing needs pinning.
    const fixedName = { ...(config.dns as NonNullable<typeof config.dns>), name: "{deployment}-sp" };
    expect(keptRecord({ ...config, dns: fixedName }, from, to)).toBeUndefined();
  });

  it("onto an existing server: the region's entry goes (with its target when it was the last), the server keeps the name", () => {
    const text = `deployment: dep\n${DNS}targets:\n  - kind: local # lab\n    regions: [r1]\n  - kind: existing\n    servers:\n      - name: box\n        region: home\n        host: 192.0.2.7\n`;
    const config = parse(text);
    const from = place(text, "dep-r1");
    const to = resolveDestination(config, from, "existing:box");
    expect(keptRecord(config, from, to)).toBe("sp-r1");
    const out = switchInYaml(text, from, to, "sp-r1");
    const moved = parse(out);
    expect(moved.targets.map((t) => t.kind)).toEqual(["existing"]);
    expect(serverNames(moved)).toEqual(["box"]);
    expect(dnsRecordPins(moved)).toEqual({ box: "sp-r1" });
    expect(out).toContain("dnsRecord: sp-r1");

    // And back to a region: the existing server's entry goes, the region gets the name.
    const twoTargets = `deployment: dep\n${DNS}targets:\n  - kind: local\n    regions: [r2]\n  - kind: existing\n    servers:\n      - { name: box, region: home, host: 192.0.2.7, dnsRecord: sp-r1 }\n      - { name: other, region: x, host: 192.0.2.8 }\n`;
    const c2 = parse(twoTargets);
    const from2 = place(twoTargets, "box");
    const to2 = resolveDestination(c2, from2, "local:r5");
    expect(keptRecord(c2, from2, to2)).toBe("sp-r1");
    const back = parse(switchInYaml(twoTargets, from2, to2, "sp-r1"));
    expect(serverNames(back)).toEqual(["dep-r2", "dep-r5", "other"]);
    expect(dnsRecordPins(back)).toEqual({ "dep-r5": "sp-r1" });
  });

  it("from a lab region to a region of another kind: added to that target's list (pinned), gone from its own", () => {
    const text = `deployment: dep\ndns: { zone: example.org, provider: hcloud }\ntargets:\n  - kind: local\n    regions: [r1, r2]\n  - kind: hcloud\n    locations: [{ location: hel1, serverType: cx23 }]\n`;
    const config = parse(text);
    const from = place(text, "dep-r1");
    const to = resolveDestination(config, from, "hcloud:fsn1");
    expect(to).toMatchObject({ type: "region", target: 1, kind: "hcloud", listKey: "locations", region: "fsn1" });
    expect(serverNames(withBoth(config, from, to))).toEqual(["dep-r1", "dep-r2", "dep-hel1", "dep-fsn1"]);
    const out = parse(switchInYaml(text, from, to, keptRecord(config, from, to)));
    expect(out.targets).toMatchObject([
      { kind: "local", regions: ["r2"] },
      {
        kind: "hcloud",
        locations: [
          { location: "hel1", serverType: "cx23" },
          { location: "fsn1", dnsRecord: "sp-r1" },
        ],
      },
    ]);
  });

  it("an operator-published name (an existing server's dnsName) is never pinned over", () => {
    const text = `deployment: dep\n${DNS}targets:\n  - kind: local\n    regions: [r1]\n  - kind: existing\n    servers:\n      - { name: box, region: home, host: 192.0.2.7, dnsName: sp.example.net }\n`;
    const config = parse(text);
    const from = place(text, "dep-r1");
    const to = resolveDestination(config, from, "existing:box");
    expect(keptRecord(config, from, to)).toBeUndefined();
    // What move then tells the operator: the name clients have changes.
    expect([clientName(config, from), clientName(config, to)]).toEqual(["sp-r1.example.org", "sp.example.net"]);
    const pinned = withPin(config, resolveDestination(config, to, "local:r1"), "sp-x");
    expect(clientName(pinned, findPlace(pinned, "dep-r1") as Place)).toBe("sp-x.example.org");
    expect(clientName({ ...config, dns: undefined }, from)).toBeUndefined();
  });
});

describe("up during an unfinished move", () => {
  const journal = (to: string, newServer: string): MoveJournal => ({
    server: "demo-r1",
    from: "local:r1",
    to,
    newServer,
    publicKey: "ab".repeat(32),
    startedAt: "2026-12-04T00:00:00.000Z",
  });

  it("leaves the existing server a move is taking over alone while the config still lists the server it leaves", () => {
    expect(serverTakenByMove(journal("existing:box", "box"), ["demo-r1", "box"])).toBe("box");
  });

  it("after the switch (the old server left the config) up installs there; a region move is undone by up instead", () => {
    expect(serverTakenByMove(journal("existing:box", "box"), ["box"])).toBeUndefined();
    expect(serverTakenByMove(journal("local:r2", "demo-r2"), ["demo-r1"])).toBeUndefined();
    expect(serverTakenByMove(undefined, ["demo-r1", "box"])).toBeUndefined();
  });
});
