import type { Output } from "@pulumi/pulumi";
import type { MockCallArgs, MockResourceArgs } from "@pulumi/pulumi/runtime/mocks.js";
import { pulumiSdk } from "../../stacks/pulumi/sdk.ts";

/*
 * Runs a Pulumi program in-process under pulumi.runtime.setMocks, for the program tests: no
 * engine, no cloud. Besides the inputs, it records the resource options exactly as the SDK sends
 * them to the engine (deleteBeforeReplace, ignoreChanges, dependencies, provider), by listening on
 * the mock monitor's registerResource.
 */

export interface RecordedResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  options: {
    deleteBeforeReplace: boolean;
    ignoreChanges: string[];
    replaceOnChanges: string[];
    dependencies: string[];
    /** Provider reference ("urn::id"), empty for the default provider. */
    provider: string;
    retainOnDelete: boolean;
    /** The logical names (or URNs) the resource was known by before. */
    aliases: string[];
  };
}

export interface MockRun<T> {
  resources: RecordedResource[];
  /** Data source calls (invokes), e.g. aws:ec2/getAmi:getAmi. */
  calls: { token: string; inputs: Record<string, unknown> }[];
  outputs: T;
}

export interface MockBehaviour {
  /** The id the "cloud" gives a resource; default `<name>-id`. */
  id?: (args: MockResourceArgs) => string;
  /** Computed outputs of a resource, merged over its inputs. */
  outputs?: (args: MockResourceArgs) => Record<string, unknown>;
  /** Results of data sources. */
  call?: (args: MockCallArgs) => Record<string, unknown>;
}

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getDeletebeforereplace(): boolean;
  getIgnorechangesList(): string[];
  getReplaceonchangesList(): string[];
  getDependenciesList(): string[];
  getProvider(): string;
  getRetainondelete(): boolean | undefined;
  getAliasurnsList(): string[];
  getAliasesList(): { getUrn(): string; getSpec(): { getName(): string } | undefined }[];
}

interface MonitorLike {
  registerResource(req: RegisterRequest, callback: (err: unknown, res: unknown) => void): Promise<void>;
}

type Resolved<T> = { [K in keyof T]: T[K] extends Output<infer U> ? U : T[K] };

/** Installs the mocks; call before a program module creates any resource. */
export async function installMocks(
  behaviour: MockBehaviour,
  record: Pick<MockRun<unknown>, "resources" | "calls">,
): Promise<void> {
  const pulumi = pulumiSdk();
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        const id = behaviour.id?.(args) ?? `${args.name}-id`;
        return { id, state: { ...args.inputs, ...(behaviour.outputs?.(args) ?? {}) } };
      },
      call: (args) => {
        record.calls.push({ token: args.token, inputs: args.inputs as Record<string, unknown> });
        return behaviour.call?.(args) ?? {};
      },
    },
    "drasyl-deploy-test",
    "test",
    false,
  );
  const monitor = pulumi.runtime.getMonitor() as unknown as MonitorLike;
  const register = monitor.registerResource.bind(monitor);
  const options = new Map<string, RecordedResource["options"]>();
  monitor.registerResource = (req, callback) => {
    options.set(`${req.getType()}::${req.getName()}`, {
      deleteBeforeReplace: req.getDeletebeforereplace(),
      ignoreChanges: req.getIgnorechangesList(),
      replaceOnChanges: req.getReplaceonchangesList(),
      dependencies: req.getDependenciesList(),
      provider: req.getProvider(),
      retainOnDelete: req.getRetainondelete() ?? false,
      aliases: [
        ...req.getAliasurnsList(),
        ...req.getAliasesList().flatMap((a) => {
          const name = a.getSpec()?.getName();
          return name ? [name] : a.getUrn() ? [a.getUrn()] : [];
        }),
      ],
    });
    return register(req, (err, res) => {
      callback(err, res);
    });
  };
  (record as { options?: Map<string, RecordedResource["options"]> }).options = options;
}

/** Runs `program` under fresh mocks and resolves its outputs once every resource is registered. */
export async function runWithMocks<T extends Record<string, Output<unknown>>>(
  program: () => T,
  behaviour: MockBehaviour = {},
): Promise<MockRun<Resolved<T>>> {
  const pulumi = pulumiSdk();
  const record: Pick<MockRun<unknown>, "resources" | "calls"> & { options?: Map<string, RecordedResource["options"]> } =
    { resources: [], calls: [] };
  const newResource = behaviour.outputs;
  const seen: MockResourceArgs[] = [];
  await installMocks({ ...behaviour, outputs: (args) => (seen.push(args), newResource?.(args) ?? {}) }, record);
  const out = program();
  const outputs: Record<string, unknown> = {};
  for (const [k, o] of Object.entries(out)) outputs[k] = await new Promise((resolve) => o.apply(resolve));
  await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
  const resources = seen.map((a) => ({
    type: a.type,
    name: a.name,
    inputs: a.inputs as Record<string, unknown>,
    options: record.options?.get(`${a.type}::${a.name}`) ?? {
      deleteBeforeReplace: false,
      ignoreChanges: [],
      replaceOnChanges: [],
      dependencies: [],
      provider: "",
      retainOnDelete: false,
      aliases: [],
    },
  }));
  return { resources, calls: record.calls, outputs: outputs as Resolved<T> };
}
