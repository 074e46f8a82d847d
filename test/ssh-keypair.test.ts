import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import { afterAll, describe, expect, it } from "vitest";
import { ensureSshKeyPair, generateEd25519PrivateKey } from "../stacks/ssh-keypair.ts";

const { utils } = ssh2;

describe("SSH key pairs", () => {
  const dir = mkdtempSync(join(tmpdir(), "dd-sshkey-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // ssh2's own generator makes an unreadable key about once in 256: 3000 keys meet that case
  // with a probability above 99.99 %, so a generator that lets one through fails here.
  it("every generated ed25519 key is one ssh2 reads back, with a 32-byte public key", () => {
    for (let i = 0; i < 3000; i++) {
      const parsed = utils.parseKey(generateEd25519PrivateKey("t"));
      if (parsed instanceof Error) throw parsed;
      expect(parsed.getPublicSSH().length).toBe(4 + 11 + 4 + 32);
    }
  });

  it("makes the pair once, 0600, and derives the public key from the private one", () => {
    const path = join(dir, "id_ed25519");
    const first = ensureSshKeyPair(path, "drasyl-deploy-test");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(first.publicKey).toMatch(/^ssh-ed25519 \S+ drasyl-deploy-test$/);
    expect(ensureSshKeyPair(path, "drasyl-deploy-test")).toEqual(first);
  });
});
