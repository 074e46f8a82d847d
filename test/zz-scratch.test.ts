import { it } from "vitest";
import { runWithMocks } from "../stacks/pulumi/mock-harness.ts";
it("scratch", async () => {
  const { hcloudProgram } = await import("../stacks/hcloud/program.ts");
  const { hcloudServerSpecs } = await import("../stacks/hcloud/catalog.ts");
  const r = await runWithMocks(() => hcloudProgram({ deployment: "d", servers: hcloudServerSpecs("d", { locations: ["fsn1", "ash"] }), sshUser: "drasyl-deploy", sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH5 test", sshSources: ["203.0.113.7/32"], ports: { udp: 22527, tcp: 443 } }) as never, {
    outputs: (a) => a.type === "hcloud:index/server:Server" ? { ipv4Address: "198.51.100.1", ipv6Address: "2001:db8::1" } : {},
  });
  console.log(JSON.stringify(r.resources.filter(x=>x.type.includes("Server")).map(x=>({...x, inputs: {...x.inputs, userData: undefined}})), null, 1), JSON.stringify(r.outputs));
});
