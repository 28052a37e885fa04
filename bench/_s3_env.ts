/**
 * The S3 server the benches run against, from the variables `infra/s3-server.sh run` sets.
 *
 * @module
 */

/** Endpoint, region and credentials of the bench's S3 server (path-style addressing). */
export function s3FromEnv(hint: string) {
  const endpoint = Deno.env.get("AWS_ENDPOINT_URL_S3") ?? Deno.env.get("AWS_ENDPOINT_URL");
  if (!endpoint) throw new Error(`No S3 endpoint: ${hint}`);
  return {
    endpoint,
    forcePathStyle: true,
    region: Deno.env.get("AWS_REGION") ?? "us-east-1",
    credentials: {
      accessKeyId: Deno.env.get("AWS_ACCESS_KEY_ID") ?? "",
      secretAccessKey: Deno.env.get("AWS_SECRET_ACCESS_KEY") ?? "",
    },
  };
}
