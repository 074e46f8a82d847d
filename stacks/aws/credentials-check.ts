import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";

export const AWS_KEY_HELP =
  "create an access key in the AWS console (IAM > Users > your user > Security credentials > Access keys), or set AWS_PROFILE";

export type AwsCredentialCheck =
  | { status: "ok"; account: string; arn: string }
  | { status: "rejected"; message: string }
  | { status: "not checked"; reason: string };

// What STS answers for credentials it does not accept, as opposed to not being reachable.
const REJECTED = new Set([
  "InvalidClientTokenId",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "ExpiredTokenException",
  "AccessDenied",
  "UnrecognizedClientException",
  "CredentialsProviderError",
]);

/**
 * STS GetCallerIdentity with the credentials `up` will use: the cheapest call that proves them.
 * The endpoint follows AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL, as every AWS SDK does.
 */
export async function checkAwsCredentials(
  region: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<AwsCredentialCheck> {
  if (!env.AWS_ACCESS_KEY_ID && !env.AWS_PROFILE)
    return { status: "not checked", reason: "no AWS_ACCESS_KEY_ID or AWS_PROFILE in the environment" };
  // The SDK warns on Node 20 about its own future releases: noise in the middle of the wizard, nothing the operator can act on.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const endpoint = env.AWS_ENDPOINT_URL_STS || env.AWS_ENDPOINT_URL || undefined;
  // Keys are passed from the environment given; a profile goes through the SDK's own chain (~/.aws).
  const credentials = env.AWS_ACCESS_KEY_ID
    ? {
        accessKeyId: env.AWS_ACCESS_KEY_ID,
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? "",
        sessionToken: env.AWS_SESSION_TOKEN || undefined,
      }
    : undefined;
  const client = new STSClient({
    region,
    endpoint,
    credentials,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 5000, requestTimeout: 10_000 },
  });
  try {
    const id = await client.send(new GetCallerIdentityCommand({}));
    return { status: "ok", account: id.Account ?? "?", arn: id.Arn ?? "?" };
  } catch (e) {
    const err = e as Error & { $metadata?: { httpStatusCode?: number } };
    const status = err.$metadata?.httpStatusCode;
    if (REJECTED.has(err.name) || status === 403)
      return {
        status: "rejected",
        message: `AWS rejected the credentials (${err.name}: ${err.message}): ${AWS_KEY_HELP}`,
      };
    return {
      status: "not checked",
      reason: `cannot reach AWS STS${endpoint ? ` at ${endpoint}` : ""}: ${err.message}`,
    };
  } finally {
    client.destroy();
  }
}
