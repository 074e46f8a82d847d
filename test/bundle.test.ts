import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { nodeRuntime, NODE_RUNTIME } from "../stacks/install/node-runtime.ts";
import { superPeerBundle } from "../stacks/package-files.ts";
import { saveIdentityFile } from "../sp-runtime/identity/identity-file.ts";
import { decodeAck, nowMicros } from "../sp-runtime/wire/messages.ts";
import { openPacket } from "../sp-runtime/wire/packet.ts";
import { spawnProcess, type Spawned } from "./support/process.ts";
import { RawClient, vectorIdentity } from "./support/super-peer.ts";

const running: Spawned[] = [];
afterAll(async () => {
  for (const p of running) await p.stop();
  rmSync(dir, { recursive: true, force: true });
});

const dir = mkdtempSync(join(tmpdir(), "drasyl-bundle-"));
const spIdentity = vectorIdentity("id_1");
const idFile = join(dir, "sp.identity");
saveIdentityFile(idFile, spIdentity);

function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    DRASYL_IDENTITY_FILE: idFile,
    DRASYL_IDENTITY_REQUIRED: "true",
    DRASYL_UDP4_LISTEN: "127.0.0.1:0",
    DRASYL_UDP6_LISTEN: "",
    DRASYL_TCP4_LISTEN: "127.0.0.1:0",
    DRASYL_TCP6_LISTEN: "",
    DRASYL_PROMETHEUS_LISTEN: "",
    RUST_LOG: "info",
    ...extra,
  };
}

async function probe(node: string): Promise<void> {
  const p = spawnProcess(node, [superPeerBundle()], env({}));
  running.push(p);
  const m = await p.waitFor(/udp:\/\/127\.0\.0\.1:(\d+)\?publicKey=([0-9a-f]{64})&networkId=1&tcpPort=(\d+)/);
  expect(m[2]).toBe(spIdentity.publicKeyHex);
  const c = await RawClient.open(vectorIdentity("id_2"), spIdentity);
  try {
    const time = nowMicros();
    c.send(c.hello(spIdentity.publicKey, { time }), Number(m[1]));
    const reply = await c.receive(5000);
    expect(reply).toBeDefined();
    const opened = openPacket(reply as Buffer, c.session.rx);
    expect(opened.ok && decodeAck(opened.value.body)).toEqual({ ok: true, value: time });
  } finally {
    c.close();
  }
  expect(await p.stop()).toBe(0);
  expect(p.stderr()).toContain("shutting down");
}

describe("the single-file bundle dist/drasyl-sp.mjs", () => {
  it("is one self-contained file", () => {
    expect(statSync(superPeerBundle()).size).toBeGreaterThan(10_000);
  });

  it(`serves HELLOs under this machine's Node ${process.version} and stops cleanly on SIGTERM`, async () => {
    await probe(process.execPath);
  });

  it(`serves HELLOs under the Node ${NODE_RUNTIME.version} it ships to servers`, async () => {
    await probe(await nodeRuntime(process.arch === "arm64" ? "arm64" : "x64"));
  }, 300_000);

  it("refuses to start without its identity file when DRASYL_IDENTITY_REQUIRED=true", async () => {
    const p = spawnProcess(
      process.execPath,
      [superPeerBundle()],
      env({ DRASYL_IDENTITY_FILE: join(dir, "gone.identity") }),
    );
    running.push(p);
    expect(await p.exit).toBe(1);
    expect(p.stderr()).toMatch(/gone\.identity does not exist and DRASYL_IDENTITY_REQUIRED=true/);
    expect(p.stdout()).not.toContain("listening");
  });

  it("stops with a message naming a malformed variable", async () => {
    const p = spawnProcess(process.execPath, [superPeerBundle()], env({ DRASYL_SEND_UNITES: "5s" }));
    running.push(p);
    expect(await p.exit).toBe(1);
    expect(p.stderr()).toContain('DRASYL_SEND_UNITES=\\"5s\\"');
  });
});
