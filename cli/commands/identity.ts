import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fetchRemoteIdentity } from "../../stacks/install/installer.ts";
import { gatherFacts } from "../../stacks/install/facts.ts";
import { SshConnection } from "../../stacks/install/ssh.ts";
import type { Server } from "../../stacks/provider.ts";
import type { Identity } from "../../sp-runtime/identity/identity.ts";
import { formatIdentityFile, loadIdentityFile, parseIdentityFile } from "../../sp-runtime/identity/identity-file.ts";
import { DEFAULT_POW_DIFFICULTY, powLeadingZeroBits } from "../../sp-runtime/identity/pow.ts";
import { serverNames, serverRegions } from "../config/schema.ts";
import { type Deployment, listServers, openDeployment } from "../deployment.ts";
import type { Archive } from "../identity/archive.ts";
import {
  buildArchive,
  checkWritable,
  defaultBackupFile,
  planRestore,
  readBackup,
  writeBackup,
  type HeldIdentity,
} from "../identity/custody.ts";
import type { Protection, Unlock } from "../identity/encryption.ts";
import { backupPassphrase } from "../identity/passphrase.ts";
import { table } from "../output/progress.ts";
import { confirm } from "../prompts/hidden.ts";
import {
  backupRecords,
  lastBackupOf,
  loadIdentity,
  localIdentityServers,
  pendingRestores,
  recordBackup,
  replaceIdentity,
  setPendingRestores,
} from "../../stacks/state/identities.ts";
import { lockDeployment } from "../../stacks/state/lock.ts";
import { restoreRetired, retiredOnce } from "../../stacks/state/retired.ts";
import { StateDir } from "../../stacks/state/state-dir.ts";
import { writeFileAtomic } from "../../sp-runtime/util/atomic-write.ts";
import { collect, configOption, type Register } from "../options.ts";

type Out = (s: string) => void;
const stdout: Out = (s) => process.stdout.write(s);
const note = (s: string): void => void process.stderr.write(`${s}\n`);

/**
 * Every identity the deployment holds locally, with the region the config gives its server, and
 * the retired ones whose key no current server holds (a removed server's, which may come back).
 */
function heldIdentities(d: Deployment): HeldIdentity[] {
  const regions = new Map(serverRegions(d.config).map((s) => [s.name, s.region]));
  const names = [...new Set([...serverNames(d.config), ...localIdentityServers(d.state)])];
  const current: HeldIdentity[] = names.flatMap((server) => {
    const identity = loadIdentity(d.state, server);
    return identity ? [{ server, region: regions.get(server) ?? "", identity }] : [];
  });
  const held = new Set(current.map((h) => h.identity.publicKeyHex));
  const retired = retiredOnce(d.state).flatMap((r) => {
    const identity = r.publicKey && !held.has(r.publicKey) ? loadIdentityFile(r.file) : undefined;
    return identity ? [{ server: r.server, region: "", identity, retiredAt: r.retiredAt }] : [];
  });
  return [...current, ...retired];
}

/** The name a key is recorded under in backups.json: the server, or the server and when it was retired. */
function recordedAs(h: { server: string; retiredAt?: string | undefined }): string {
  return h.retiredAt ? `${h.server} (retired ${h.retiredAt})` : h.server;
}

async function unlockFor(o: { passphraseFile?: string; identity?: string[] }): Promise<Unlock> {
  if (o.identity && o.identity.length > 0) {
    const identities = o.identity.flatMap((f) =>
      readFileSync(f, "utf8")
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l.startsWith("AGE-SECRET-KEY-")),
    );
    if (identities.length === 0) throw new Error(`no AGE-SECRET-KEY-1... line in ${o.identity.join(", ")}`);
    return { identities };
  }
  return {
    passphrase: await backupPassphrase("decrypt", o.passphraseFile ? { passphraseFile: o.passphraseFile } : {}),
  };
}

export interface BackupOptions {
  config?: string;
  stateDir: string;
  out?: string;
  recipient: string[];
  passphraseFile?: string;
  force: boolean;
}

/** Writes one encrypted archive of every identity of the deployment and records it in the state. */
export async function backup(opts: BackupOptions, protection?: Protection): Promise<number> {
  const d = openDeployment(opts.config, opts.stateDir);
  const held = heldIdentities(d);
  if (held.length === 0) {
    note(`Deployment "${d.config.deployment}" has no identities yet: nothing to back up (run drasyl-deploy up first).`);
    return 1;
  }
  const out = opts.out ?? defaultBackupFile(d.config.deployment);
  checkWritable(out, opts.force);
  const p: Protection =
    protection ??
    (opts.recipient.length > 0
      ? { recipients: opts.recipient }
      : {
          passphrase: await backupPassphrase(
            "encrypt",
            opts.passphraseFile ? { passphraseFile: opts.passphraseFile } : {},
          ),
        });
  const archive = buildArchive(d.config.deployment, d.settings.networkId, held);
  await writeBackup(out, archive, p);
  recordBackup(d.state, {
    at: archive.createdAt,
    file: out,
    keys: Object.fromEntries(held.map((h) => [recordedAs(h), h.identity.publicKeyHex])),
  });
  note(
    `Backed up ${held.length} identit${held.length === 1 ? "y" : "ies"} of "${d.config.deployment}" to ${out} (age-encrypted, 0600).`,
  );
  note("Keep it somewhere other than this machine, with the passphrase or age key apart from it.");
  return 0;
}

function describeArchive(a: Archive, out: Out): void {
  out(
    `deployment ${a.deployment}, network ${a.networkId}, written ${a.createdAt}, ${a.entries.length} identit${a.entries.length === 1 ? "y" : "ies"}\n`,
  );
  const rows = [["SERVER", "REGION", "PUBLIC KEY", "POW"]];
  for (const e of a.entries)
    rows.push([
      e.retiredAt ? `${e.server} (retired ${e.retiredAt.slice(0, 10)})` : e.server,
      e.region || "-",
      e.publicKey,
      `${powLeadingZeroBits(e.identity.publicKey, e.proofOfWork)} bits (needs ${e.powDifficulty})`,
    ]);
  out(table(rows));
}

export async function verify(
  file: string,
  o: { passphraseFile?: string; identity?: string[] },
  out: Out = stdout,
): Promise<number> {
  try {
    const archive = await readBackup(file, await unlockFor(o));
    describeArchive(archive, out);
    out(`${file}: OK, every identity is valid\n`);
    return 0;
  } catch (e) {
    note(`NOT usable: ${(e as Error).message}`);
    return 1;
  }
}

export interface RestoreOptions {
  stateDir: string;
  server: string[];
  toDeployment?: string;
  force: boolean;
  passphraseFile?: string;
  identity?: string[];
}

/**
 * Puts identities from a backup into the local state; the next `up` installs them, also over a
 * different identity a server may hold. Nothing is written unless the whole archive checks out.
 */
export async function restore(
  file: string,
  opts: RestoreOptions,
  ask: (q: string) => Promise<boolean> = confirm,
): Promise<number> {
  const archive = await readBackup(file, await unlockFor(opts));
  const deployment = opts.toDeployment ?? archive.deployment;
  const state = new StateDir(opts.stateDir).forDeployment(deployment);
  const unlock = lockDeployment(state);
  try {
    const items = planRestore(
      archive,
      { servers: opts.server, ...(opts.toDeployment ? { toDeployment: opts.toDeployment } : {}) },
      (s) => loadIdentity(state, s),
    );
    const pending = pendingRestores(state);
    let declined = 0;
    for (const item of items) {
      const pk = item.entry.publicKey;
      if (item.state === "retired") {
        const kept = restoreRetired(state, item.server, item.entry.identity, item.entry.retiredAt as string);
        note(
          `${item.server}: ${kept ? `kept ${pk} as a retired identity (${kept})` : `the local state already holds the retired ${pk}`}`,
        );
        continue;
      }
      if (item.state === "same") {
        note(`${item.server}: the local state already holds ${pk}`);
        continue;
      }
      if (item.state === "differs" && !opts.force) {
        const yes = await ask(
          `${item.server}: the local state holds ${item.localPublicKey}, the backup ${pk}. Replace it (the current one is kept)?`,
        );
        if (!yes) {
          note(
            `${item.server}: kept the local identity ${item.localPublicKey} (pass --force to replace it without asking)`,
          );
          declined++;
          continue;
        }
      }
      // Marked before it is written: a run killed in between leaves a marker that matches no local key (harmless), never a restored key `up` would refuse to install.
      pending[item.server] = pk;
      setPendingRestores(state, pending);
      const kept = replaceIdentity(state, item.server, item.entry.identity);
      note(`${item.server}: restored ${pk}${kept ? ` (the replaced identity is kept as ${kept})` : ""}`);
    }
    // The archive holds these keys: it is a backup of them, wherever it came from.
    recordBackup(state, {
      at: archive.createdAt,
      file: resolve(file),
      keys: Object.fromEntries(
        items.map((i) => [recordedAs({ server: i.server, retiredAt: i.entry.retiredAt }), i.entry.publicKey]),
      ),
    });
    note(`Run drasyl-deploy up to install the restored identities onto the servers of "${deployment}".`);
    return declined > 0 ? 1 : 0;
  } finally {
    unlock();
  }
}

async function withServer<T>(d: Deployment, name: string, f: (server: Server) => Promise<T>): Promise<T> {
  const server = (await listServers(d)).find((s) => s.name === name);
  if (!server) throw new Error(`deployment "${d.config.deployment}" has no running server named ${name}`);
  return f(server);
}

async function remoteIdentity(d: Deployment, name: string): Promise<Identity> {
  return withServer(d, name, async (server) => {
    const conn = await SshConnection.open(server, { knownHostsFile: d.state.knownHostsFile });
    try {
      return await fetchRemoteIdentity(conn);
    } finally {
      conn.close();
    }
  });
}

export interface ImportOptions {
  config?: string;
  stateDir: string;
  server: string;
  fromServer: boolean;
  force: boolean;
}

/** Brings in a Rust `drasyl-sp` identity (file or running server) so the super peer keeps its key. */
export async function importIdentity(
  file: string | undefined,
  opts: ImportOptions,
  ask: (q: string) => Promise<boolean> = confirm,
): Promise<number> {
  const d = openDeployment(opts.config, opts.stateDir);
  if (!serverNames(d.config).includes(opts.server))
    throw new Error(
      `--server ${opts.server} is not a server of "${d.config.deployment}" (its servers: ${serverNames(d.config).join(", ")})`,
    );
  if (!file && !opts.fromServer)
    throw new Error("name the identity file to import, or pass --from-server to fetch it from the server over SSH");
  const identity = file ? parseIdentityFile(readFileSync(file, "utf8"), file) : await remoteIdentity(d, opts.server);
  const bits = powLeadingZeroBits(identity.publicKey, identity.pow);
  if (bits < DEFAULT_POW_DIFFICULTY)
    throw new Error(
      `the identity's proof of work has ${bits} bits, drasyl needs ${DEFAULT_POW_DIFFICULTY}: super peers with it are refused; nothing imported`,
    );
  const unlock = lockDeployment(d.state);
  try {
    const current = loadIdentity(d.state, opts.server);
    if (current && current.publicKeyHex === identity.publicKeyHex && current.pow === identity.pow) {
      note(`${opts.server}: the local state already holds ${identity.publicKeyHex}`);
      return 0;
    }
    if (
      current &&
      !opts.force &&
      !(await ask(
        `${opts.server}: the local state holds ${current.publicKeyHex}; replace it with ${identity.publicKeyHex} (the current one is kept)?`,
      ))
    ) {
      note(
        `${opts.server}: kept the local identity ${current.publicKeyHex} (pass --force to replace it without asking)`,
      );
      return 1;
    }
    if (!opts.fromServer)
      setPendingRestores(d.state, { ...pendingRestores(d.state), [opts.server]: identity.publicKeyHex });
    const kept = replaceIdentity(d.state, opts.server, identity);
    note(
      `${opts.server}: imported ${identity.publicKeyHex}${kept ? ` (the replaced identity is kept as ${kept})` : ""}; not backed up yet: run drasyl-deploy identity backup`,
    );
    return 0;
  } finally {
    unlock();
  }
}

export interface ExportOptions {
  config?: string;
  stateDir: string;
  server: string;
  out?: string;
  force: boolean;
}

/** Writes the Rust `drasyl-sp` identity file (0600) that a Rust super peer can run with. */
export function exportIdentity(opts: ExportOptions): number {
  const d = openDeployment(opts.config, opts.stateDir);
  const identity = loadIdentity(d.state, opts.server);
  if (!identity)
    throw new Error(
      `the local state of "${d.config.deployment}" holds no identity for ${opts.server} (${d.state.identityFile(opts.server)})`,
    );
  const out = opts.out ?? `${opts.server}.identity`;
  checkWritable(out, opts.force);
  writeFileAtomic(out, formatIdentityFile(identity), { mode: 0o600 });
  note(
    `${opts.server}: wrote ${identity.publicKeyHex} to ${out} (Rust drasyl-sp format, 0600; it holds the secret key)`,
  );
  return 0;
}

type Held = "local+server" | "differs" | "local only" | "server only" | "no identity" | "unreachable";

/** What the server holds, from the facts script (which reads only the public half of the key). */
async function serverKey(
  server: Server,
  stateDir: StateDir,
): Promise<{ key?: string; present: boolean; error?: string }> {
  let conn: SshConnection | undefined;
  try {
    conn = await SshConnection.open(server, { knownHostsFile: stateDir.knownHostsFile, timeoutMs: 10_000 });
    const facts = await gatherFacts(conn);
    return facts.identity.present
      ? { present: true, ...(facts.identity.publicKey ? { key: facts.identity.publicKey } : {}) }
      : { present: false };
  } catch (e) {
    return { present: false, error: (e as Error).message };
  } finally {
    conn?.close();
  }
}

export async function list(
  opts: { config?: string; stateDir: string; localOnly: boolean },
  out: Out = stdout,
): Promise<number> {
  const d = openDeployment(opts.config, opts.stateDir);
  const records = backupRecords(d.state);
  const servers = opts.localOnly ? [] : await listServers(d);
  const remote = new Map(await Promise.all(servers.map(async (s) => [s.name, await serverKey(s, d.state)] as const)));
  const regions = new Map(serverRegions(d.config).map((s) => [s.name, s.region]));
  const names = [...new Set([...serverNames(d.config), ...localIdentityServers(d.state)])];
  const rows = [["SERVER", "REGION", "PUBLIC KEY", "POW", "HELD", "LAST BACKUP"]];
  let problems = 0;
  for (const name of names) {
    const local = loadIdentity(d.state, name);
    const r = remote.get(name);
    let held: Held | "local (server not checked)" | "local (no server)";
    if (opts.localOnly) held = local ? "local (server not checked)" : "no identity";
    else if (!r) held = local ? "local (no server)" : "no identity";
    else if (r.error) held = "unreachable";
    else if (!r.present) held = local ? "local only" : "no identity";
    else if (!local) held = "server only";
    else held = r.key === local.publicKeyHex ? "local+server" : "differs";
    if (held === "differs" || held === "server only" || held === "unreachable") problems++;
    const key = local?.publicKeyHex ?? r?.key ?? "-";
    const pow = local ? `${powLeadingZeroBits(local.publicKey, local.pow)}` : "-";
    const last = local ? (lastBackupOf(records, local.publicKeyHex)?.at ?? "never") : "-";
    rows.push([
      name,
      regions.get(name) ?? "-",
      key,
      pow,
      held === "differs" ? `differs (server: ${r?.key ?? "unreadable"})` : held,
      last,
    ]);
  }
  // Retired identities (servers removed, old names of moved ones) once each, after the current ones.
  const current = new Map(
    names.flatMap((n) => {
      const k = loadIdentity(d.state, n)?.publicKeyHex;
      return k ? [[k, n] as const] : [];
    }),
  );
  for (const r of retiredOnce(d.state)) {
    const now = r.publicKey ? current.get(r.publicKey) : undefined;
    rows.push([
      r.server,
      "-",
      r.publicKey ?? "unreadable",
      "-",
      `retired ${r.retiredAt.slice(0, 10)}${now ? `, now ${now}` : ""}`,
      r.publicKey ? (lastBackupOf(records, r.publicKey)?.at ?? "never") : "-",
    ]);
  }
  out(table(rows));
  const unbacked = names.filter((n) => {
    const local = loadIdentity(d.state, n);
    return local && !lastBackupOf(records, local.publicKeyHex);
  });
  if (unbacked.length > 0) note(`Not in any backup yet: ${unbacked.join(", ")}. Run drasyl-deploy identity backup.`);
  return problems > 0 ? 1 : 0;
}

/** `identity list|backup|verify|restore|import|export`, each with its own options. */
export const registerIdentity: Register = (program, globals) => {
  const stateDir = (): string => globals().stateDir;
  const identity = program
    .command("identity")
    .description(
      "back up, verify, restore, import and export super peer identities (their public keys are what clients trust)",
    );
  const passOpt = [
    "--passphrase-file <file>",
    "read the backup passphrase from this file (else $DRASYL_DEPLOY_BACKUP_PASSPHRASE, else asked)",
  ] as const;
  const ageIdOpt = [
    "--identity <file>",
    "age identity file (AGE-SECRET-KEY-1...) for a backup made with --recipient",
  ] as const;
  const run = async (f: () => Promise<number> | number): Promise<void> => {
    process.exitCode = await f();
  };

  identity
    .command("list")
    .description("per super peer: region, public key, proof of work, where the identity is held, last backup")
    .addOption(configOption())
    .option("--local-only", "do not connect to the servers", false)
    .action((o: { config?: string; localOnly: boolean }) => run(() => list({ ...o, stateDir: stateDir() })));

  identity
    .command("backup")
    .description("write one age-encrypted archive of every identity of the deployment (0600)")
    .addOption(configOption())
    .option("-o, --out <file>", "archive to write (default: <deployment>-identities-<date>.age)")
    .option("--recipient <age1...>", "encrypt to this age public key instead of a passphrase (repeatable)", collect, [])
    .option(...passOpt)
    .option("--force", "replace an existing archive file", false)
    .action((o: Omit<BackupOptions, "stateDir">) => run(() => backup({ ...o, stateDir: stateDir() })));

  identity
    .command("verify <file>")
    .description("decrypt a backup and check every identity in it; prints what it holds, without secrets; exit 0 or 1")
    .option(...passOpt)
    .option(...ageIdOpt, collect, [])
    .action((file: string, o: { passphraseFile?: string; identity: string[] }) => run(() => verify(file, o)));

  identity
    .command("restore <file>")
    .description("put identities from a backup into the local state; the next up installs them onto the servers")
    .option("--server <name>", "restore only this server's identity (repeatable)", collect, [])
    .option("--to-deployment <name>", "restore into another deployment (generated server names follow)")
    .option("--force", "replace differing local identities without asking (they are kept in the state dir)", false)
    .option(...passOpt)
    .option(...ageIdOpt, collect, [])
    .action((file: string, o: Omit<RestoreOptions, "stateDir">) =>
      run(() => restore(file, { ...o, stateDir: stateDir() })),
    );

  identity
    .command("import [file]")
    .description(
      "import a Rust drasyl-sp identity file (e.g. /etc/drasyl-sp/drasyl-sp.identity) as a server's identity",
    )
    .requiredOption("--server <name>", "the server of this deployment that gets the identity")
    .option("--from-server", "fetch the identity file from that server over SSH instead of a local file", false)
    .option("--force", "replace a differing local identity without asking (it is kept in the state dir)", false)
    .addOption(configOption())
    .action((file: string | undefined, o: Omit<ImportOptions, "stateDir">) =>
      run(() => importIdentity(file, { ...o, stateDir: stateDir() })),
    );

  identity
    .command("export")
    .description("write a server's identity as a Rust drasyl-sp identity file (0600)")
    .requiredOption("--server <name>", "whose identity")
    .option("-o, --out <file>", "file to write (default: <server>.identity)")
    .option("--force", "replace an existing file", false)
    .addOption(configOption())
    .action((o: Omit<ExportOptions, "stateDir">) => run(() => exportIdentity({ ...o, stateDir: stateDir() })));
};
