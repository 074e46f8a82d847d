import { spawn, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { processAlive } from "../stacks/util/process.ts";

describe("processAlive", () => {
  it("a running process is alive, an exited one is not", () => {
    expect(processAlive(process.pid)).toBe(true);
    const exited = spawnSync("true").pid;
    expect(exited && processAlive(exited)).toBe(false);
  });

  it("a zombie (exited, not yet reaped by its parent) is not alive, though kill(0) still reaches it", async () => {
    // sh starts a short-lived child, then becomes a sleep that never reaps it.
    const parent = spawn("sh", ["-c", "sh -c 'echo $$' & exec sleep 5"], { stdio: ["ignore", "pipe", "ignore"] });
    try {
      const zombie = Number(
        await new Promise<string>((resolve) => parent.stdout.once("data", (d: Buffer) => resolve(d.toString().trim()))),
      );
      await expect.poll(() => processAlive(zombie), { timeout: 5000 }).toBe(false);
      expect(() => process.kill(zombie, 0)).not.toThrow();
    } finally {
      parent.kill("SIGKILL");
    }
  });
});
