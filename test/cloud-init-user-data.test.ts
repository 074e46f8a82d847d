import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderUserData, UserDataError } from "../stacks/pulumi/cloud-init.ts";

/* The user data as rendered; test/cloud-init.test.ts boots lab hosts with it. */

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVyrxjGx8zvrS0zDCIYAS0pO0Sc0FbxLGxjQxTkMXHX drasyl-deploy-t";

describe("cloud-init user data (templates/cloud-init.yaml)", () => {
  it("creates only the login user with the key and passwordless sudo, and closes password logins", () => {
    const text = renderUserData({ user: "drasyl-deploy", authorizedKey: KEY });
    expect(text.split("\n")[0]).toBe("#cloud-config");
    expect(parse(text)).toEqual({
      users: [
        {
          name: "drasyl-deploy",
          gecos: "drasyl-deploy operator login",
          shell: "/bin/bash",
          lock_passwd: true,
          sudo: "ALL=(ALL) NOPASSWD:ALL",
          ssh_authorized_keys: [KEY],
        },
      ],
      disable_root: true,
      ssh_pwauth: false,
      package_update: false,
      package_upgrade: false,
    });
  });

  it("root as login user: root stays open for the key", () => {
    const doc = parse(renderUserData({ user: "root", authorizedKey: KEY })) as {
      users: { name: string }[];
      disable_root: boolean;
    };
    expect(doc.users[0]?.name).toBe("root");
    expect(doc.disable_root).toBe(false);
  });

  it("refuses values that would change the document", () => {
    expect(() => renderUserData({ user: "x\nruncmd: [reboot]", authorizedKey: KEY })).toThrow(UserDataError);
    expect(() => renderUserData({ user: "Admin", authorizedKey: KEY })).toThrow(UserDataError);
    expect(() => renderUserData({ user: "ok", authorizedKey: `${KEY}\nruncmd: [reboot]` })).toThrow(UserDataError);
    expect(() => renderUserData({ user: "ok", authorizedKey: "not a key" })).toThrow(UserDataError);
    // A comment with YAML syntax in it stays a comment.
    const odd = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVyrxjGx8zvrS0zDCIYAS0pO0Sc0FbxLGxjQxTkMXHX a: b # c";
    expect(
      (parse(renderUserData({ user: "ok", authorizedKey: odd })) as { users: { ssh_authorized_keys: string[] }[] })
        .users[0]?.ssh_authorized_keys,
    ).toEqual([odd]);
  });
});
