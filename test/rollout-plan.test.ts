import { afterEach, describe, expect, it } from "vitest";
import { generateSecretKey } from "../sp-runtime/crypto/keys.ts";
import { Identity } from "../sp-runtime/identity/identity.ts";
import { superPeerAddress } from "../sp-runtime/node/test-node.ts";
import type { ServiceState } from "../stacks/install/health.ts";
import { relayCheck, restartedBetween } from "../stacks/rollout/gate.ts";
import { formatRolloutPlan, planRollout, RolloutPlanError, type SurveyedServer } from "../stacks/rollout/plan.ts";
import { startTestSuperPeer, type TestSuperPeer, vectorIdentity } from "./support/super-peer.ts";

function fleet(n: number, changes: (i: number) => boolean = () => true): SurveyedServer[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `sp${i + 1}`,
    region: `r${i + 1}`,
    current: "old",
    target: changes(i) ? "new" : "old",
    changes: changes(i),
  }));
}

describe("planRollout", () => {
  it("by default: the first server alone as the canary, then one at a time, in the config's order", () => {
    const plan = planRollout(fleet(4));
    expect(plan.batches).toEqual([
      { index: 0, canary: true, servers: ["sp1"] },
      { index: 1, canary: false, servers: ["sp2"] },
      { index: 2, canary: false, servers: ["sp3"] },
      { index: 3, canary: false, servers: ["sp4"] },
    ]);
    expect(plan.order).toEqual(["sp1", "sp2", "sp3", "sp4"]);
    expect(plan.unchanged).toEqual([]);
  });

  it("--canary picks the canary and --batch groups the rest", () => {
    const plan = planRollout(fleet(5), { canary: "sp3", batch: 2 });
    expect(plan.batches.map((b) => b.servers)).toEqual([["sp3"], ["sp1", "sp2"], ["sp4", "sp5"]]);
    expect(plan.batches[0]?.canary).toBe(true);
    expect(plan.order).toEqual(["sp3", "sp1", "sp2", "sp4", "sp5"]);
  });

  it("the same input always gives the same plan", () => {
    const servers = fleet(6);
    expect(planRollout([...servers].reverse(), { batch: 3 })).toEqual(
      planRollout([...servers].reverse(), { batch: 3 }),
    );
  });

  it("leaves out servers that already run the release; a second rollout of it has no batches", () => {
    const plan = planRollout(fleet(3, (i) => i !== 0));
    expect(plan.batches.map((b) => b.servers)).toEqual([["sp2"], ["sp3"]]);
    expect(plan.batches[0]?.canary).toBe(true);
    expect(plan.unchanged).toEqual(["sp1"]);
    const again = planRollout(fleet(3, () => false));
    expect(again.batches).toEqual([]);
    expect(
      formatRolloutPlan(
        again,
        fleet(3, () => false),
      ),
    ).toMatch(/^nothing to roll out/);
  });

  it("a canary that already runs the release is not upgraded again; the others follow without a canary batch", () => {
    const plan = planRollout(
      fleet(3, (i) => i !== 1),
      { canary: "sp2" },
    );
    expect(plan.batches).toEqual([
      { index: 0, canary: false, servers: ["sp1"] },
      { index: 1, canary: false, servers: ["sp3"] },
    ]);
  });

  it("a resumed rollout keeps the previous order, new servers go last", () => {
    const servers = [...fleet(3), { name: "sp0", region: "r0", current: "old", target: "new", changes: true }];
    const plan = planRollout(servers, { order: ["sp3", "sp1", "sp2"] });
    expect(plan.order).toEqual(["sp3", "sp1", "sp2", "sp0"]);
    expect(plan.batches.map((b) => b.servers)).toEqual([["sp3"], ["sp1"], ["sp2"], ["sp0"]]);
  });

  it("refuses an unknown canary, a bad batch size, and servers without a running super peer, naming them", () => {
    expect(() => planRollout(fleet(2), { canary: "nope" })).toThrow(
      /--canary nope is not a server of this deployment; its servers: sp1, sp2/,
    );
    expect(() => planRollout(fleet(2), { batch: 0 })).toThrow(RolloutPlanError);
    const fresh = fleet(2).map((s, i) =>
      i === 1 ? { name: s.name, region: s.region, target: "new", changes: true } : s,
    );
    expect(() => planRollout(fresh)).toThrow(/no super peer is installed on sp2 yet: run "drasyl-deploy up" first/);
  });

  it("the dry-run text names every batch with its release change", () => {
    const servers = fleet(3);
    expect(formatRolloutPlan(planRollout(servers, { batch: 2 }), servers)).toBe(
      "batch 1 (canary): sp1 (r1: old -> new)\nbatch 2: sp2 (r2: old -> new), sp3 (r3: old -> new)\n",
    );
  });
});

describe("restartedBetween (the soak's verdict)", () => {
  const before: ServiceState = {
    active: "active",
    sub: "running",
    mainPid: 100,
    restarts: 0,
    activeEnterTimestamp: "Fri 2026-12-04 15:00:00 UTC",
  };
  it("passes only the same uninterrupted run", () => {
    expect(restartedBetween(before, { ...before })).toBeUndefined();
    expect(restartedBetween(before, { ...before, restarts: 1, mainPid: 101 })).toMatch(/restarted drasyl-sp 1 time/);
    expect(restartedBetween(before, { ...before, activeEnterTimestamp: "Fri 2026-12-04 15:00:09 UTC" })).toMatch(
      /ActiveEnterTimestamp/,
    );
    expect(restartedBetween(before, { ...before, active: "activating", sub: "auto-restart" })).toMatch(
      /activating \(auto-restart\)/,
    );
    expect(restartedBetween(before, { ...before, mainPid: 7 })).toMatch(/new process/);
  });
});

describe("relayCheck against real super peers on loopback", () => {
  const running: TestSuperPeer[] = [];
  afterEach(async () => {
    for (const sp of running.splice(0)) await sp.close();
  });
  async function sp(env: Record<string, string>, identity?: Identity): Promise<TestSuperPeer> {
    const s = await startTestSuperPeer({ DRASYL_SEND_UNITES: "0", ...env }, identity);
    running.push(s);
    return s;
  }
  const addr = (s: TestSuperPeer) =>
    superPeerAddress("127.0.0.1", s.bound.udp4?.port ?? 0, s.identity.publicKeyHex, s.bound.tcp4?.port ?? 0);
  const nodes: [Identity, Identity] = [vectorIdentity("id_2"), vectorIdentity("id_3")];

  it("APP goes both ways through the checked super peer with hop count 1, UNITEs arrive, RTTs are reported", async () => {
    const checked = await sp({});
    const other = await sp({}, new Identity(generateSecretKey(), 0));
    const r = await relayCheck({ via: addr(checked), other: addr(other), networkId: 1, arm: true, nodes, rounds: 3 });
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.rttMs).toHaveLength(3);
    expect(r.unites).toBeGreaterThanOrEqual(2);
  });

  it("waits out the super peer's UNITE rate limit when the same pair was checked moments before", async () => {
    const checked = await sp({ DRASYL_SEND_UNITES: "2000" });
    expect((await relayCheck({ via: addr(checked), networkId: 1, arm: true, nodes })).ok).toBe(true);
    const again = await relayCheck({ via: addr(checked), networkId: 1, arm: true, nodes, uniteWindowMs: 3000 });
    expect(again.error).toBeUndefined();
    expect(again.unites).toBeGreaterThanOrEqual(2);
  });

  it("fails when the super peer answers HELLOs but sends no UNITE", async () => {
    const checked = await sp({ DRASYL_SEND_UNITES: "-1" });
    const r = await relayCheck({
      via: addr(checked),
      networkId: 1,
      arm: true,
      nodes,
      timeoutMs: 1000,
      uniteWindowMs: 1000,
    });
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/sent no UNITE/);
  });

  it("fails, naming the step, when nothing answers", async () => {
    const checked = await sp({});
    const gone = addr(checked);
    await checked.close();
    running.splice(0);
    const r = await relayCheck({ via: gone, networkId: 1, arm: true, nodes, timeoutMs: 500 });
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/within 500 ms/);
  });
});
