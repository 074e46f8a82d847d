import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { Option } from "commander";
import { createTwoFilesPatch } from "diff";
import { parseDocument } from "yaml";
import { DEFAULT_CONFIG_FILE, parseConfig } from "../config/load.ts";
import type { Register } from "../options.ts";
import { answersFromConfig, configFromAnswers, type InitAnswers } from "../init/answers.ts";
import { renderConfig, secretsFor } from "../init/render.ts";
import { AnswerError, Asker, isPromptCancel } from "../prompts/ask.ts";
import { askAnswers, type InitFlags } from "../prompts/wizard.ts";
import { up } from "./up.ts";

export interface InitOptions extends InitFlags {
  config: string;
  stateDir: string;
  yes: boolean;
  force: boolean;
  up?: boolean;
}

/** The answers of the file being re-written, or undefined (with a note) when it cannot be read. */
function previousAnswers(file: string, say: (l: string) => void): { text: string; answers?: InitAnswers } | undefined {
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, "utf8");
  try {
    const config = parseConfig(text, file);
    say(`${file} exists: its values are the defaults.`);
    return { text, answers: answersFromConfig(config, parseDocument(text).toJS() as Record<string, unknown>) };
  } catch (e) {
    say(
      `${file} exists but is not usable (${(e as Error).message.split("\n").join(" ")}): its values are not offered.`,
    );
    return { text };
  }
}

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(tmp, text, { flag: "wx" });
  renameSync(tmp, file);
}

async function run(opts: InitOptions, ask: Asker): Promise<number> {
  const previous = previousAnswers(opts.config, (l) => ask.say(l));
  const answers = await askAnswers({
    ask,
    flags: opts,
    previous: previous?.answers,
    stateDir: opts.stateDir,
    env: process.env,
  });
  const text = renderConfig(answers);
  // The file must be what `up` accepts: a config init cannot write is a bug here, not the operator's.
  parseConfig(text, `the config init generated (${JSON.stringify(configFromAnswers(answers))})`);
  ask.say("");
  if (previous && previous.text === text) {
    ask.say(`${opts.config} already says exactly this: nothing to write.`);
  } else {
    if (previous) {
      ask.say(
        createTwoFilesPatch(opts.config, opts.config, previous.text, text, "current", "new")
          .split("\n")
          .slice(2)
          .join("\n"),
      );
      if (!opts.force && !ask.interactive)
        throw new AnswerError(
          `${opts.config} exists and would change (the diff is above): pass --force to overwrite it`,
        );
      const overwrite =
        opts.force ||
        (await ask.yesNo({ flag: "--force", message: `Overwrite ${opts.config} with these changes?`, default: false }));
      if (!overwrite) {
        ask.say("Nothing written.");
        return 1;
      }
    } else {
      ask.say(text);
    }
    writeAtomically(opts.config, text);
    ask.say(`Wrote ${opts.config}.`);
  }
  const secrets = secretsFor(answers);
  if (secrets.length > 0)
    ask.say(`Before \`up\`, set in the environment: ${secrets.map((s) => s.split(/\s{2,}/)[0]).join("; ")}.`);
  // Unattended, `up` runs only when asked for: writing a config must not deploy by surprise.
  const later = `Deploy with: drasyl-deploy up${opts.config === DEFAULT_CONFIG_FILE ? "" : ` --config ${opts.config}`}`;
  let runUp: boolean;
  try {
    runUp =
      opts.up ??
      (ask.interactive && (await ask.yesNo({ flag: "--up", message: "Run `drasyl-deploy up` now?", default: true })));
  } catch (e) {
    if (!isPromptCancel(e)) throw e;
    // The file is already written: Ctrl-C here only declines `up`.
    ask.say(later);
    return 130;
  }
  if (!runUp) {
    ask.say(later);
    return 0;
  }
  return up({ config: opts.config, stateDir: opts.stateDir, dryRun: false, adoptIdentity: [], replaceIdentity: [] });
}

/** `drasyl-deploy init`: the questions, the file, and `up` if wanted. Ctrl-C at a question writes nothing (exit 130). */
export async function init(opts: InitOptions): Promise<number> {
  const ask = new Asker({ interactive: Boolean(process.stdin.isTTY && process.stdout.isTTY), yes: opts.yes });
  try {
    return await run(opts, ask);
  } catch (e) {
    if (isPromptCancel(e)) {
      process.stderr.write("Cancelled: nothing written.\n");
      return 130;
    }
    if (e instanceof AnswerError) {
      process.stderr.write(`drasyl-deploy init: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

export const registerInit: Register = (program, globals) => {
  program
    .command("init")
    .description(
      "ask a few questions and write drasyl-deploy.yaml (every question also has a flag; --yes takes the defaults)",
    )
    .addOption(new Option("-c, --config <file>", "the file to write").default(DEFAULT_CONFIG_FILE))
    .option("-y, --yes", "never prompt: take the default for every question no flag answers", false)
    .option("--force", "overwrite an existing file without asking", false)
    .option("--name <deployment>", "deployment name")
    .option("--target <kinds>", "where to run, comma-separated: hcloud, aws, existing, local")
    .option(
      "--regions <list>",
      "regions or locations, comma-separated; with several targets prefixed, e.g. hcloud:fsn1,aws:eu-central-1",
    )
    .option("--server-type <type>", "Hetzner Cloud server type (default: the smallest per location)")
    .option("--instance-type <type>", "AWS instance type (default t3.micro)")
    .option("--network-id <id>", "drasyl network id, or 'random' (default 1)")
    .option("--tcp-port <port>", "TCP fallback port (default 443)")
    .option("--host <address>", "existing server: IP or DNS name")
    .option("--ssh-port <port>", "existing server: SSH port (default 22)")
    .option("--user <user>", "existing server: root or a passwordless-sudo user (default root)")
    .option("--ssh-key <key>", "existing server: a private key file, 'agent', or 'new' (a deployment key)")
    .option("--dns-name <name>", "existing server: DNS name for clients (optional)")
    .option("--server-name <name>", "existing server: name (default from the address)")
    .option(
      "--host-key <key>",
      "existing server: the SSH host key to expect ('ssh-ed25519 AAAA...'); default: pin what the server offers",
    )
    .option("--no-check", "existing server: do not connect to check it")
    .option("--up", "run `up` after writing")
    .option("--no-up", "do not run `up` after writing")
    .action(async (o: Omit<InitOptions, "stateDir">) => {
      process.exitCode = await init({ ...o, stateDir: globals().stateDir });
    });
};
