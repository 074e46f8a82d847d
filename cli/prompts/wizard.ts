import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { isIP } from "node:net";
import {
  AWS_DEFAULT_INSTANCE_TYPE,
  AWS_DEFAULT_REGIONS,
  checkInstanceType,
  checkRegion,
} from "../../stacks/aws/catalog.ts";
import { AWS_REGIONS, AWS_SMALL_INSTANCE_TYPES } from "../../stacks/aws/regions.ts";
import { checkLocation, checkServerType } from "../../stacks/hcloud/catalog.ts";
import { ensureDeployKey } from "../../stacks/pulumi/deploy-key.ts";
import { StateDir } from "../../stacks/state/state-dir.ts";
import {
  type ExistingServerAnswers,
  type InitAnswers,
  randomNetworkId,
  serverNameFromHost,
  TARGET_KINDS,
  TARGET_TITLES,
  type TargetKind,
} from "../init/answers.ts";
import {
  builtInHcloudCatalog,
  defaultTypesText,
  fetchHcloudCatalog,
  type HcloudCatalog,
  HcloudApiError,
  hcloudEndpoint,
  monthlyPrice,
  typesForLocations,
} from "../../stacks/hcloud/live-catalog.ts";
import { checkAwsCredentials } from "../../stacks/aws/credentials-check.ts";
import { ServerProbe } from "../init/server-check.ts";
import { agentKeys, sshKeyFiles } from "../init/ssh-keys.ts";
import { AnswerError, type Asker, type Check, type Choice, invalid, type Invalid } from "./ask.ts";

/** Every question's flag; commander fills these in. */
export interface InitFlags {
  name?: string;
  target?: string;
  regions?: string;
  serverType?: string;
  instanceType?: string;
  networkId?: string;
  tcpPort?: string;
  host?: string;
  sshPort?: string;
  user?: string;
  sshKey?: string;
  dnsName?: string;
  serverName?: string;
  hostKey?: string;
  /** false with --no-check: existing servers are not contacted. */
  check: boolean;
}

export interface WizardContext {
  ask: Asker;
  flags: InitFlags;
  /** Answers of the file being re-written, offered as defaults. */
  previous?: InitAnswers;
  stateDir: string;
  env: NodeJS.ProcessEnv;
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
const checkName: Check = (v) =>
  NAME.test(v) || "1-32 characters of a-z, 0-9 and '-', starting and ending with a letter or digit";
const checkPort: Check = (v) => (/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 65535) || "a port number, 1-65535";
const DNS =
  /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;
const checkHost: Check = (v) => isIP(v) !== 0 || DNS.test(v) || "an IP address or a DNS name";
const checkUser: Check = (v) => /^[a-z_][a-z0-9_-]*$/.test(v) || "a Unix user name";

function list(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/** All problems of a comma-separated list, or the list. */
function parseList(value: string, check: (item: string) => string | undefined): string[] | Invalid {
  const items = list(value);
  if (items.length === 0) return invalid("give at least one, comma-separated");
  const problems = items.map(check).filter((p): p is string => p !== undefined);
  return problems.length > 0 ? invalid(problems.join("; ")) : items;
}

/**
 * --regions for one target: entries prefixed with a kind ("hcloud:fsn1") belong to that target;
 * unprefixed ones to the only target that has regions.
 */
function regionsFlag(flags: InitFlags, kind: TargetKind, kinds: TargetKind[]): string | undefined {
  if (flags.regions === undefined) return undefined;
  const withRegions = kinds.filter((k) => k !== "existing");
  const mine: string[] = [];
  for (const item of list(flags.regions)) {
    const m = /^(hcloud|aws|local):(.+)$/.exec(item);
    if (m) {
      if (m[1] === kind) mine.push(m[2] ?? "");
    } else if (withRegions.length > 1) {
      throw new AnswerError(
        `--regions ${JSON.stringify(item)}: with several targets, prefix each region with its target, e.g. hcloud:fsn1,aws:eu-central-1,local:lab-1`,
      );
    } else if (withRegions[0] === kind) mine.push(item);
  }
  return mine.length > 0 ? mine.join(",") : undefined;
}

async function hcloudCatalog(ctx: WizardContext): Promise<HcloudCatalog> {
  const token = ctx.env.HCLOUD_TOKEN;
  if (!token) {
    ctx.ask.say(
      "HCLOUD_TOKEN is not set: the locations come from the built-in list (no prices). `up` will need the token in the environment.",
    );
    return builtInHcloudCatalog();
  }
  ctx.ask.say(`Reading locations and server types from the Hetzner Cloud API (${hcloudEndpoint(ctx.env)})...`);
  try {
    const catalog = await fetchHcloudCatalog(token, hcloudEndpoint(ctx.env));
    ctx.ask.say(
      `HCLOUD_TOKEN accepted: ${catalog.locations.length} locations, ${catalog.serverTypes.length} server types.`,
    );
    if (catalog.skipped.length > 0)
      ctx.ask.say(`(not offered, this drasyl-deploy does not support them yet: ${catalog.skipped.join(", ")})`);
    return catalog;
  } catch (e) {
    if (!(e instanceof HcloudApiError)) throw e;
    ctx.ask.say(`✗ ${e.message}`);
    if (!ctx.ask.interactive) throw new AnswerError(e.message);
    const goOn = await ctx.ask.yesNo({
      flag: "HCLOUD_TOKEN",
      message: "Continue with the built-in list (fix the token before `up`)?",
      default: true,
    });
    if (!goOn) throw new AnswerError(`stopped: ${e.message}`);
    return builtInHcloudCatalog();
  }
}

async function askHcloud(ctx: WizardContext, kinds: TargetKind[]): Promise<NonNullable<InitAnswers["hcloud"]>> {
  const catalog = await hcloudCatalog(ctx);
  const offered = new Set(catalog.locations.map((l) => l.name));
  const previous = ctx.previous?.hcloud;
  const locations = await ctx.ask.many({
    flag: "--regions",
    given: regionsFlag(ctx.flags, "hcloud", kinds),
    message: "Hetzner Cloud locations (one super peer each):",
    choices: catalog.locations.map((l) => ({ value: l.name, name: `${l.name.padEnd(5)} ${l.where}` })),
    default: (previous?.locations ?? ["fsn1", "ash", "sin"]).filter((l) => offered.has(l)),
    parse: (v) =>
      parseList(
        v,
        (l) =>
          checkLocation(l) ??
          (offered.has(l) ? undefined : `${l} is not offered by the Hetzner Cloud API for this token`),
      ),
  });
  const types = typesForLocations(catalog, locations);
  const fallback = [
    "cpx22",
    "ccx13",
    ...(locations.every((l) => checkServerType(l, "cx23") === undefined) ? ["cx23", "cax11"] : []),
  ];
  const typeChoices: Choice<string>[] = [
    { value: "", name: `default: the smallest shared-CPU type (${defaultTypesText(locations, catalog)})` },
    ...(types.length > 0
      ? types.map((t) => ({
          value: t.name,
          name: `${t.name.padEnd(6)} ${t.description}${monthlyPrice(t, locations) ? `, ${monthlyPrice(t, locations)}` : ""}`,
        }))
      : fallback.map((t) => ({ value: t, name: t }))),
  ];
  // A type the file names stays on offer, so a re-run never drops it silently.
  if (previous?.serverType && !typeChoices.some((c) => c.value === previous.serverType))
    typeChoices.push({ value: previous.serverType, name: `${previous.serverType} (as in the current file)` });
  const serverType = await ctx.ask.choose({
    flag: "--server-type",
    given: ctx.flags.serverType,
    message: "Hetzner Cloud server type:",
    choices: typeChoices,
    default: previous?.serverType ?? "",
    parse: (v) => {
      const problem = locations.map((l) => checkServerType(l, v)).find((p) => p !== undefined);
      if (problem) return invalid(problem);
      if (catalog.source === "api" && !types.some((t) => t.name === v))
        return invalid(`the Hetzner Cloud API offers no current ${v} in all of ${locations.join(", ")}`);
      return v;
    },
  });
  return { locations, serverType: serverType || undefined, kept: previous?.kept };
}

async function checkAws(ctx: WizardContext, region: string): Promise<void> {
  const r = await checkAwsCredentials(region, ctx.env);
  if (r.status === "ok") return ctx.ask.say(`AWS credentials accepted: account ${r.account} (${r.arn}).`);
  if (r.status === "not checked")
    return ctx.ask.say(
      `AWS credentials: not checked (${r.reason}); \`up\` needs AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE.`,
    );
  ctx.ask.say(`✗ ${r.message}`);
  if (!ctx.ask.interactive) throw new AnswerError(r.message);
  const goOn = await ctx.ask.yesNo({
    flag: "AWS_ACCESS_KEY_ID",
    message: "Continue anyway (fix the credentials before `up`)?",
    default: true,
  });
  if (!goOn) throw new AnswerError(`stopped: ${r.message}`);
}

async function askAws(ctx: WizardContext, kinds: TargetKind[]): Promise<NonNullable<InitAnswers["aws"]>> {
  const previous = ctx.previous?.aws;
  const regions = await ctx.ask.many({
    flag: "--regions",
    given: regionsFlag(ctx.flags, "aws", kinds),
    message: "AWS regions (one super peer each):",
    choices: Object.entries(AWS_REGIONS).map(([r, where]) => ({ value: r, name: `${r.padEnd(15)} ${where}` })),
    default: previous?.regions ?? AWS_DEFAULT_REGIONS,
    parse: (v) => parseList(v, checkRegion),
  });
  await checkAws(ctx, regions[0] ?? "us-east-1");
  const choices: Choice<string>[] = AWS_SMALL_INSTANCE_TYPES.map((t) => ({
    value: t.type,
    name: `${t.type.padEnd(10)} ${t.what}`,
  }));
  if (previous?.instanceType && !choices.some((c) => c.value === previous.instanceType))
    choices.push({ value: previous.instanceType, name: previous.instanceType });
  const instanceType = await ctx.ask.choose({
    flag: "--instance-type",
    given: ctx.flags.instanceType,
    message: "AWS instance type:",
    choices,
    default: previous?.instanceType ?? AWS_DEFAULT_INSTANCE_TYPE,
    parse: (v) => {
      const problem = checkInstanceType(v);
      return problem ? invalid(problem) : v;
    },
  });
  return { regions, instanceType, kept: previous?.kept };
}

async function askLocal(ctx: WizardContext, kinds: TargetKind[]): Promise<NonNullable<InitAnswers["local"]>> {
  const given = regionsFlag(ctx.flags, "local", kinds);
  if (given !== undefined) {
    const regions = parseList(given, (r) => (NAME.test(r) ? undefined : `"${r}" is not a region name (a-z, 0-9, '-')`));
    if (!Array.isArray(regions)) throw new AnswerError(`--regions ${JSON.stringify(given)}: ${regions.invalid}`);
    return { regions };
  }
  const count = await ctx.ask.choose({
    flag: "--regions",
    message: "How many lab servers (one super peer each, on this machine)?",
    // Up to 5, or as many as the file already has: a re-run never drops servers by itself.
    choices: Array.from({ length: Math.max(5, ctx.previous?.local?.regions.length ?? 0) }, (_, i) => ({
      value: i + 1,
      name: String(i + 1),
    })),
    default: ctx.previous?.local?.regions.length ?? 3,
    parse: () => invalid("unused: --regions is read above"),
  });
  const previous = ctx.previous?.local?.regions ?? [];
  return { regions: Array.from({ length: count }, (_, i) => previous[i] ?? `lab-${i + 1}`) };
}

async function askNetworkId(ctx: WizardContext): Promise<number> {
  const previous = ctx.previous?.networkId;
  const random = randomNetworkId();
  const choices: Choice<number>[] = [
    { value: 1, name: "1: drasyl's default network (nodes need no setting)" },
    { value: random, name: `${random}: a random id, a network of your own (nodes set DRASYL_NETWORK_ID=${random})` },
  ];
  if (previous !== undefined && previous !== 1)
    choices.unshift({ value: previous, name: `${previous}: as in the current file` });
  if (ctx.flags.networkId === undefined)
    ctx.ask.say(
      "All super peers and nodes of one drasyl network share its network id; nodes ignore super peers of another.",
    );
  return ctx.ask.choose({
    flag: "--network-id",
    given: ctx.flags.networkId,
    message: "Network id:",
    choices,
    default: previous ?? 1,
    parse: (v) => {
      if (v === "random") return random;
      const n = Number(v);
      return /^-?\d+$/.test(v) && n >= -0x80000000 && n <= 0x7fffffff
        ? n
        : invalid("a 32-bit signed integer, or random");
    },
  });
}

async function askSshKey(
  ctx: WizardContext,
  deployment: string,
  given: string | undefined,
  previous?: string,
): Promise<string | undefined> {
  const agent = await agentKeys(ctx.env.SSH_AUTH_SOCK);
  const files = sshKeyFiles(ctx.env.HOME ?? homedir());
  const choices: Choice<string>[] = [];
  if (agent.length > 0)
    choices.push({
      value: "agent",
      name: `ssh-agent (${agent.length} key${agent.length > 1 ? "s" : ""}: ${agent.join("; ")})`,
    });
  for (const f of files) choices.push({ value: f.path, name: `${f.path} (${f.label})` });
  if (previous && !choices.some((c) => c.value === previous))
    choices.push({ value: previous, name: `${previous} (as in the current file)` });
  choices.push({
    value: "new",
    name: "a new key drasyl-deploy makes for this deployment (you add its public key to the server)",
  });
  const choice = await ctx.ask.choose({
    flag: "--ssh-key",
    given,
    message: "SSH key to log in with:",
    choices,
    default: previous ?? choices[0]?.value,
    parse: (v) => {
      if (v === "agent" || v === "new") return v;
      const path = v.startsWith("~/") ? (ctx.env.HOME ?? homedir()) + v.slice(1) : v;
      return existsSync(path) ? v : invalid("no such key file (or use agent, or new)");
    },
  });
  if (choice === "agent") return undefined;
  if (choice !== "new") return choice;
  const key = ensureDeployKey(new StateDir(ctx.stateDir).forDeployment(deployment));
  ctx.ask.say(`Deployment key ${key.privateKeyPath}. Add this line to the server's ~/.ssh/authorized_keys:`);
  ctx.ask.say(`  ${key.publicKey}`);
  return key.privateKeyPath;
}

/** Connects, shows the host key, checks sudo, OS, architecture and ports: the problems, or none. */
async function checkServer(
  ctx: WizardContext,
  s: ExistingServerAnswers,
  ports: { udp: number; tcp: number },
): Promise<{ hostKey?: string; problems: string[] }> {
  ctx.ask.say(`Connecting to ${s.user}@${s.host}:${s.sshPort}...`);
  let probe: ServerProbe;
  try {
    probe = await ServerProbe.connect({
      name: s.name,
      host: s.host,
      sshPort: s.sshPort,
      user: s.user,
      privateKey: s.privateKey,
    });
  } catch (e) {
    ctx.ask.say(`  ✗ ${(e as Error).message}`);
    return { problems: [(e as Error).message] };
  }
  try {
    ctx.ask.say(`Host key: ${probe.hostKey.split(" ")[0]} ${probe.fingerprint}`);
    const expected = ctx.flags.hostKey ?? s.hostKey;
    if (expected && expected.split(/\s+/).slice(0, 2).join(" ") !== probe.hostKey) {
      const why = `the server offered a different host key than ${ctx.flags.hostKey ? "--host-key" : "the current file pins"}: not the expected machine, or it was reinstalled`;
      ctx.ask.say(`  ✗ ${why}`);
      if (!ctx.ask.interactive || ctx.flags.hostKey) return { problems: [why] };
    } else if (expected) {
      ctx.ask.say("  matches the pinned key.");
    }
    if (!expected || expected.split(/\s+/).slice(0, 2).join(" ") !== probe.hostKey) {
      const pin = await ctx.ask.yesNo({
        flag: "--host-key",
        message: `Pin this host key (compare it with \`ssh-keygen -lf /etc/ssh/ssh_host_${probe.hostKey.split(" ")[0]?.replace(/^ssh-/, "")}_key.pub\` on the server)?`,
        default: true,
      });
      if (!pin) return { problems: ["host key not pinned"] };
      ctx.ask.say("  pinned: it goes into the file as hostKey.");
    }
    const report = await probe.check(ports, s.user);
    for (const f of report.facts) ctx.ask.say(`  ✓ ${f}`);
    for (const p of report.problems) ctx.ask.say(`  ✗ ${p}`);
    return { hostKey: probe.hostKey, problems: report.problems };
  } finally {
    probe.close();
  }
}

async function askExisting(
  ctx: WizardContext,
  deployment: string,
  ports: { udp: number; tcp: number },
): Promise<ExistingServerAnswers[]> {
  const servers: ExistingServerAnswers[] = [];
  const previous = ctx.previous?.existing?.servers ?? [];
  for (;;) {
    let d: Partial<ExistingServerAnswers> = previous[servers.length] ?? {};
    // The flags answer the first server once; a server that failed its check is asked for again, with them as defaults.
    let f: Partial<InitFlags> = servers.length === 0 ? ctx.flags : {};
    for (;;) {
      const host = await ctx.ask.text({
        flag: "--host",
        given: f.host,
        message: "Server address (IP or DNS name):",
        default: d.host,
        check: checkHost,
      });
      const sshPort = Number(
        await ctx.ask.text({
          flag: "--ssh-port",
          given: f.sshPort,
          message: "SSH port:",
          default: String(d.sshPort ?? 22),
          check: checkPort,
        }),
      );
      const user = await ctx.ask.text({
        flag: "--user",
        given: f.user,
        message: "SSH user (root, or a user with passwordless sudo):",
        default: d.user ?? "root",
        check: checkUser,
      });
      const privateKey = await askSshKey(ctx, deployment, f.sshKey, d.privateKey);
      const dnsName = await ctx.ask.text({
        flag: "--dns-name",
        given: f.dnsName,
        message: "DNS name clients should use (optional, enter to skip):",
        default: d.dnsName,
        optional: true,
        check: checkHost,
      });
      let name = ctx.flags.serverName ?? (d.host === host ? d.name : undefined) ?? serverNameFromHost(host);
      if (checkName(name) !== true)
        throw new AnswerError(`--server-name ${JSON.stringify(name)}: ${String(checkName(name))}`);
      for (let i = 2; servers.some((s) => s.name === name); i++) name = `${serverNameFromHost(host).slice(0, 28)}-${i}`;
      const server: ExistingServerAnswers = {
        name,
        region: d.host === host && d.region ? d.region : name,
        host,
        sshPort,
        user,
        privateKey,
        dnsName: dnsName || undefined,
        hostKey: d.host === host ? d.hostKey : undefined,
      };
      if (!ctx.flags.check) {
        servers.push(server);
        break;
      }
      const checked = await checkServer(ctx, server, ports);
      if (checked.problems.length === 0) {
        servers.push({ ...server, hostKey: checked.hostKey });
        break;
      }
      if (!ctx.ask.interactive) throw new AnswerError(`server ${host}: ${checked.problems.join("; ")}`);
      ctx.ask.say("Fix that and enter the server again (Ctrl-C stops, nothing is written).");
      d = server;
      f = {};
    }
    const more =
      ctx.ask.interactive &&
      (await ctx.ask.yesNo({ flag: "--host", message: "Add another server you already have?", default: false }));
    if (!more) return servers;
  }
}

/** The questions, in the order a first-time operator thinks about them. */
export async function askAnswers(ctx: WizardContext): Promise<InitAnswers> {
  const { ask, flags, previous } = ctx;
  const deployment = await ask.text({
    flag: "--name",
    given: flags.name,
    message: "Deployment name:",
    default: previous?.deployment ?? "my-super-peers",
    check: checkName,
  });
  const kinds = await ask.many<TargetKind>({
    flag: "--target",
    given: flags.target,
    message: "Where should the super peers run? (several may be combined)",
    choices: TARGET_KINDS.map((k) => ({ value: k, name: TARGET_TITLES[k] })),
    default: previous
      ? TARGET_KINDS.filter((k) => previous[k] !== undefined)
      : [ctx.env.HCLOUD_TOKEN ? "hcloud" : "local"],
    parse: (v) => {
      const items = parseList(v, (k) =>
        (TARGET_KINDS as readonly string[]).includes(k)
          ? undefined
          : `unknown target "${k}": use ${TARGET_KINDS.join(", ")}`,
      );
      return Array.isArray(items) ? (items as TargetKind[]) : items;
    },
  });
  const answers: InitAnswers = {
    deployment,
    networkId: 1,
    udpPort: previous?.udpPort ?? 22527,
    tcpPort: 443,
    superPeer: previous?.superPeer,
  };
  if (kinds.includes("hcloud")) answers.hcloud = await askHcloud(ctx, kinds);
  if (kinds.includes("aws")) answers.aws = await askAws(ctx, kinds);
  if (kinds.includes("local")) answers.local = await askLocal(ctx, kinds);
  answers.networkId = await askNetworkId(ctx);
  answers.tcpPort = Number(
    await ask.text({
      flag: "--tcp-port",
      given: flags.tcpPort,
      message: "TCP fallback port (for nodes whose network blocks UDP):",
      default: String(previous?.tcpPort ?? 443),
      check: checkPort,
    }),
  );
  if (kinds.includes("existing"))
    answers.existing = { servers: await askExisting(ctx, deployment, { udp: answers.udpPort, tcp: answers.tcpPort }) };
  return answers;
}
