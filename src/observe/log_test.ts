import { assertEquals } from "../../tests/_assert.ts";
import { causeChain, Logger } from "./log.ts";

function logger(options: ConstructorParameters<typeof Logger>[0] = {}) {
  const lines: string[] = [];
  return { log: new Logger({ ...options, write: (l) => lines.push(l), now: () => 0 }), lines };
}

Deno.test("Logger at warn drops info lines but keeps notices (start-up) and warnings", () => {
  const { log, lines } = logger({ level: "warn" });
  log.info("request", { status: 200 });
  log.notice("serving", { url: "http://127.0.0.1:8080/" });
  log.warn("request", { status: 404 });
  assertEquals(lines, [
    "time=1970-01-01T00:00:00.000Z level=info msg=serving url=http://127.0.0.1:8080/",
    "time=1970-01-01T00:00:00.000Z level=warn msg=request status=404",
  ]);
});

Deno.test("Logger quotes text values that could be misread, and writes JSON lines", () => {
  const text = logger();
  text.log.info("m", { path: '/a b/"c"=d', n: 1, absent: undefined, none: null });
  assertEquals(
    text.lines[0],
    'time=1970-01-01T00:00:00.000Z level=info msg=m path="/a b/\\"c\\"=d" n=1 none=null',
  );
  const json = logger({ format: "json" });
  json.log.error("boom", { path: "/x\ny" });
  assertEquals(JSON.parse(json.lines[0]!), {
    time: "1970-01-01T00:00:00.000Z",
    level: "error",
    msg: "boom",
    path: "/x\ny",
  });
});

Deno.test("causeChain() joins an error's causes once each", () => {
  const inner = new Error("connection refused");
  const outer = new Error("S3 request failed", {
    cause: new Error("fetch failed", { cause: inner }),
  });
  assertEquals(causeChain(outer), "S3 request failed: fetch failed: connection refused");
});

Deno.test("Logger writes each line's own time, in both formats, and leaves out absent fields", () => {
  for (const format of ["text", "json"] as const) {
    let now = 1_000;
    const lines: string[] = [];
    const log = new Logger({ format, write: (l) => lines.push(l), now: () => now });
    log.info("a", { x: 1, skip: undefined });
    log.info("b");
    now = 2_001;
    log.info("c", { y: "z" });
    const times = lines.map((l) => format === "json" ? JSON.parse(l).time : l.slice(5, 29));
    assertEquals(times, [
      "1970-01-01T00:00:01.000Z",
      "1970-01-01T00:00:01.000Z",
      "1970-01-01T00:00:02.001Z",
    ]);
    if (format === "json") {
      assertEquals(Object.keys(JSON.parse(lines[0]!)), ["time", "level", "msg", "x"]);
    } else assertEquals(lines[2], "time=1970-01-01T00:00:02.001Z level=info msg=c y=z");
  }
});
