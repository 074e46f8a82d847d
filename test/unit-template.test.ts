import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CURRENT_LINK, UNIT_FILE } from "../stacks/install/layout.ts";
import { resolveSettings, type Settings } from "../stacks/install/settings.ts";
import {
  environmentOf,
  readTemplate,
  renderServiceFiles,
  renderTemplate,
  TemplateError,
} from "../stacks/install/templates.ts";

const SYSTEM_UNITS = ["/usr/lib/systemd/system", "/lib/systemd/system"].find((d) =>
  existsSync(join(d, "multi-user.target")),
);
const analyze = spawnSync("systemd-analyze", ["--version"]).status === 0 && SYSTEM_UNITS !== undefined;

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/**
 * A throwaway root for `systemd-analyze --root`: this machine's system units (for the targets the
 * unit refers to), the unit itself where it is installed, and an executable where ExecStart points,
 * so the exact unit that ships is checked, not a variant with other paths.
 */
function rootWith(unit: string): string {
  const root = mkdtempSync(join(tmpdir(), "drasyl-unit-"));
  roots.push(root);
  cpSync(SYSTEM_UNITS as string, join(root, "usr/lib/systemd/system"), { recursive: true });
  mkdirSync(join(root, "etc/systemd/system"), { recursive: true });
  writeFileSync(join(root, UNIT_FILE), unit);
  mkdirSync(join(root, CURRENT_LINK), { recursive: true });
  writeFileSync(join(root, CURRENT_LINK, "node"), "#!/bin/sh\n");
  chmodSync(join(root, CURRENT_LINK, "node"), 0o755);
  return root;
}

function verify(unit: string): { status: number | null; stderr: string } {
  const r = spawnSync("systemd-analyze", ["verify", "--man=no", `--root=${rootWith(unit)}`, "drasyl-sp.service"], {
    encoding: "utf8",
  });
  return { status: r.status, stderr: r.stderr };
}

function unitFor(settings: Partial<Settings> = {}): string {
  return renderServiceFiles(resolveSettings(settings)).unit;
}

describe.skipIf(!analyze && process.env.CI !== "true")("the rendered unit passes systemd-analyze", () => {
  it("verify: no warnings at all with the default settings", () => {
    const r = verify(unitFor());
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("verify: no warnings with other ports and unlimited peers", () => {
    const unit = unitFor({ udpPort: 22528, tcpPort: 8443, maxPeers: 0, logLevel: "debug" });
    expect(unit).toContain("LimitNOFILE=1048576");
    expect(verify(unit).stderr).toBe("");
  });

  it("verify: the lint catches what it must (unknown key, missing ExecStart binary)", () => {
    expect(verify(unitFor().replace("[Install]", "Bogus=1\n[Install]")).stderr).toMatch(/Unknown key/);
    expect(verify(unitFor().replace(`${CURRENT_LINK}/node `, "/nonexistent/node ")).stderr).toMatch(/not executable/);
  });

  it("security: exposure score is OK (below 2.0)", () => {
    const root = rootWith(unitFor());
    const r = spawnSync(
      "systemd-analyze",
      ["security", "--offline=yes", `--root=${root}`, "--no-pager", "drasyl-sp.service"],
      { encoding: "utf8" },
    );
    const m = /Overall exposure level for drasyl-sp\.service: (\d+\.\d+) (\S+)/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    const score = Number(m?.[1]);
    console.log(`systemd-analyze security drasyl-sp.service: ${score} ${m?.[2]}`);
    console.log(
      r.stdout
        .split("\n")
        .filter((l) => l.startsWith("✗"))
        .join("\n"),
    );
    expect(score).toBeLessThan(2.0);
  });
});

describe("the unit template", () => {
  const unit = unitFor();

  it("keeps the seed guide's settings", () => {
    for (const line of [
      "User=drasyl-sp",
      "AmbientCapabilities=CAP_NET_BIND_SERVICE",
      "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
      "Restart=on-failure",
      "RestartSec=5s",
      'Environment="DRASYL_UDP4_LISTEN=0.0.0.0:22527"',
      'Environment="DRASYL_UDP6_LISTEN=[::]:22527"',
      'Environment="DRASYL_TCP4_LISTEN=0.0.0.0:443"',
      'Environment="DRASYL_TCP6_LISTEN=[::]:443"',
      'Environment="RUST_LOG=info"',
      'Environment="DRASYL_IDENTITY_FILE=/etc/drasyl-sp/drasyl-sp.identity"',
      'Environment="DRASYL_IDENTITY_REQUIRED=true"',
      "EnvironmentFile=/etc/drasyl-sp/drasyl-sp.env",
      "SystemCallFilter=@system-service @pkey",
      "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
      "UMask=0077",
      "ProtectSystem=strict",
      "NoNewPrivileges=yes",
      "LimitNOFILE=65536",
    ]) {
      expect(unit.split("\n")).toContain(line);
    }
  });

  it("never sets MemoryDenyWriteExecute (V8's JIT needs it off), and says why", () => {
    expect(unit).not.toMatch(/^MemoryDenyWriteExecute=/m);
    expect(unit).toMatch(/^# No MemoryDenyWriteExecute=: V8/m);
  });

  it("the unit and env file together configure the daemon as intended", () => {
    const files = renderServiceFiles(resolveSettings({ networkId: 7, prometheusToken: "tok" }));
    expect(environmentOf(files.unit, files.env)).toMatchObject({
      DRASYL_NETWORK_ID: "7",
      DRASYL_IDENTITY_REQUIRED: "true",
      DRASYL_UDP6_LISTEN: "[::]:22527",
      DRASYL_PROMETHEUS_TOKEN: "tok",
      DRASYL_PROMETHEUS_LISTEN: "127.0.0.1:9898",
    });
    expect(files.unit).not.toContain("tok\n");
  });
});

describe("renderTemplate", () => {
  it("substitutes every placeholder", () => {
    expect(renderTemplate("a={{a}} b={{ b }}", { a: 1, b: "x" })).toBe("a=1 b=x");
  });

  it("refuses a missing value, an unused value and a control character", () => {
    expect(() => renderTemplate("{{a}} {{b}}", { a: 1 })).toThrow(/no value for \{\{b\}\}/);
    expect(() => renderTemplate("{{a}}", { a: 1, c: 2 })).toThrow(/without a placeholder: c/);
    expect(() => renderTemplate("{{a}}", { a: "x\nExecStartPre=/bin/evil" })).toThrow(TemplateError);
  });

  it("the shipped templates have no placeholder the renderer does not fill", () => {
    expect(renderServiceFiles(resolveSettings()).unit).not.toContain("{{");
    expect(readTemplate("drasyl-sp.env")).toContain("{{prometheusToken}}");
  });
});
