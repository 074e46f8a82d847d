import { execFileSync } from "node:child_process";

/** Whether this process may create network namespaces and NAT rules (root, iproute2, nftables). */
export function netnsAvailable(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync("ip", ["-V"], { stdio: "ignore" });
    execFileSync("nft", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, {
    encoding: "utf8",
    input,
    stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
}

/** Namespaces created by a test, all removed again by cleanup() (their veths go with them). */
export class Namespaces {
  private readonly names: string[] = [];
  readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  add(name: string): string {
    const ns = `${this.prefix}-${name}`;
    sh("ip", ["netns", "add", ns]);
    this.names.push(ns);
    sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
    return ns;
  }

  /** A veth pair from `a` (named `aIf`) to `b` (named `bIf`), both up. */
  link(a: string, aIf: string, b: string, bIf: string): void {
    sh("ip", ["-n", a, "link", "add", aIf, "type", "veth", "peer", "name", bIf, "netns", b]);
    sh("ip", ["-n", a, "link", "set", aIf, "up"]);
    sh("ip", ["-n", b, "link", "set", bIf, "up"]);
  }

  cleanup(): void {
    for (const ns of this.names.splice(0).reverse()) {
      try {
        sh("ip", ["netns", "del", ns]);
      } catch {
        // Already gone: nothing left to remove.
      }
    }
  }
}
