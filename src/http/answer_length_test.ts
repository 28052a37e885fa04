import { Hono } from "hono";
import { assertEquals } from "../../tests/_assert.ts";
import { answerLength, withLength } from "./answer_length.ts";

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    pull(controller) {
      const next = chunks.shift();
      if (next === undefined) controller.close();
      else controller.enqueue(encoder.encode(next));
    },
  });
}

Deno.test("withLength() gives a small streamed answer its length and keeps its status and headers", async () => {
  const res = await withLength(
    new Response(streamOf(["ab", "cd"]), { status: 418, headers: { "x-a": "1" } }),
  );
  assertEquals(
    [res.status, res.headers.get("content-length"), res.headers.get("x-a"), await res.text()],
    [418, "4", "1", "abcd"],
  );
});

Deno.test("withLength() passes a larger answer on whole and in order, as a stream", async () => {
  const res = await withLength(new Response(streamOf(["abc", "def", "ghi", "jkl"])), 5);
  assertEquals([res.headers.get("content-length"), await res.text()], [null, "abcdefghijkl"]);
});

Deno.test("answerLength() touches only answers to requests that declare a body", async () => {
  const app = new Hono().use("*", answerLength()).all("/", (c) => c.body(streamOf(["x", "y"])));
  const post = await app.request("/", {
    method: "POST",
    headers: { "content-length": "1" },
    body: "z",
  });
  assertEquals([post.headers.get("content-length"), await post.text()], ["2", "xy"]);
  const get = await app.request("/");
  assertEquals([get.headers.get("content-length"), await get.text()], [null, "xy"]);
});
