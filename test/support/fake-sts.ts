import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local HTTP server answering AWS STS GetCallerIdentity in its query protocol (form-encoded POST,
 * XML answer) as the real service does. It accepts only requests signed (SigV4) with `accessKeyId`;
 * anything else gets the 403 InvalidClientTokenId the real STS sends.
 */
export async function startFakeSts(accessKeyId: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      res.setHeader("content-type", "text/xml");
      const params = new URLSearchParams(body);
      const auth = req.headers.authorization ?? "";
      if (!auth.startsWith("AWS4-HMAC-SHA256 ") || !auth.includes(`Credential=${accessKeyId}/`)) {
        res.statusCode = 403;
        res.end(
          '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>' +
            "<Message>The security token included in the request is invalid.</Message></Error><RequestId>4c1c3b8e-0000-4000-8000-000000000001</RequestId></ErrorResponse>",
        );
        return;
      }
      if (req.method !== "POST" || params.get("Action") !== "GetCallerIdentity") {
        res.statusCode = 400;
        res.end(
          "<ErrorResponse><Error><Code>InvalidAction</Code><Message>unsupported</Message></Error></ErrorResponse>",
        );
        return;
      }
      res.end(
        '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>' +
          "<Arn>arn:aws:iam::123456789012:user/ci</Arn><UserId>AIDAEXAMPLEUSERID</UserId><Account>123456789012</Account>" +
          "</GetCallerIdentityResult><ResponseMetadata><RequestId>4c1c3b8e-0000-4000-8000-000000000002</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
