// Every curl example in the README works, in order, on a fresh store: the test extracts
// the ```sh blocks' curl commands (joining continued lines) and runs each against a
// server process, failing on any non-2xx answer.

import { assert, assertEquals } from "./_assert.ts";
import { startServer } from "./_server.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname);

/** The curl commands of the ```sh blocks of a Markdown text, continuations joined. */
export function curlExamples(markdown: string): string[] {
  const commands: string[] = [];
  for (const block of markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)) {
    const joined = block[1]!.replace(/\\\n\s*/g, " ");
    for (const line of joined.split("\n")) {
      if (/^\s*curl\s/.test(line)) commands.push(line.trim());
    }
  }
  return commands;
}

const haveCurl = await new Deno.Command("curl", { args: ["--version"], stdout: "null" })
  .output().then((o) => o.success, () => false);

Deno.test({
  name: "every curl example in the README answers 2xx on a fresh store",
  ignore: !haveCurl,
  async fn() {
    const commands = curlExamples(await Deno.readTextFile(`${ROOT}README.md`));
    assert(commands.length >= 5, `only ${commands.length} curl examples found`);
    const server = await startServer({ store: "memory" });
    const cwd = await Deno.makeTempDir({ prefix: "pagefs-readme-" });
    try {
      // The files the examples upload, as a reader would have them.
      await Deno.writeTextFile(
        `${cwd}/report.pdf`,
        "%PDF-1.4 a report of 48 bytes, give or take\n",
      );
      const failures: string[] = [];
      for (const command of commands) {
        // As a reader would run it, against the test's server, failing on an HTTP error.
        const line = command.replaceAll("http://127.0.0.1:8080", server.url)
          .replace(/^curl /, "curl -sS --fail-with-body -o /dev/null -w '%{http_code}' ");
        const out = await new Deno.Command("bash", {
          args: ["-c", line],
          cwd,
          stdin: "null",
        }).output();
        const status = new TextDecoder().decode(out.stdout);
        console.log(`${status} ${command}`);
        if (!out.success) {
          failures.push(`${status} ${command}: ${new TextDecoder().decode(out.stderr).trim()}`);
        }
      }
      assertEquals(failures, []);
    } finally {
      await server.close();
      await Deno.remove(cwd, { recursive: true });
    }
  },
});
