import type { Identity } from "../../sp-runtime/identity/identity.ts";
import type { Server } from "../provider.ts";
import { gatherFacts } from "../install/facts.ts";
import { planInstall } from "../install/plan.ts";
import { resolveRelease } from "../install/release.ts";
import type { Settings } from "../install/settings.ts";
import { SshConnection } from "../install/ssh.ts";
import type { SurveyedServer } from "./plan.ts";

export type SurveyResult = { ok: true; server: SurveyedServer } | { ok: false; server: string; error: string };

/**
 * Reads one server's facts and plans the install of the rollout's release on it, changing nothing:
 * what runs there now, what would run after, and whether anything would change at all.
 */
export async function surveyServer(
  server: Server,
  spec: { identity: Identity; settings: Settings; bundlePath: string },
  knownHostsFile: string,
): Promise<SurveyResult> {
  let conn: SshConnection | undefined;
  try {
    conn = await SshConnection.open(server, { knownHostsFile });
    const facts = await gatherFacts(conn);
    const release = await resolveRelease(facts.arch, spec.bundlePath);
    const plan = planInstall(
      facts,
      { release, identity: spec.identity, settings: spec.settings },
      { server: server.name },
    );
    return {
      ok: true,
      server: {
        name: server.name,
        region: server.region,
        ...(facts.current ? { current: facts.current } : {}),
        target: release.id,
        changes: plan.actions.length > 0,
      },
    };
  } catch (e) {
    return { ok: false, server: server.name, error: (e as Error).message };
  } finally {
    conn?.close();
  }
}
