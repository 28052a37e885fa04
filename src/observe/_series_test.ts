import { Counter, Histogram, Registry } from "prom-client";
import { assertEquals } from "../../tests/_assert.ts";
import { LabeledCounter, LabeledHistogram } from "./_series.ts";

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

Deno.test("LabeledHistogram and LabeledCounter render what prom-client renders for the same samples", async () => {
  const registry = new Registry();
  const registers = [registry];
  const theirs = new Histogram({
    name: "h_seconds",
    help: 'A "help" text \\ with\nlines.',
    labelNames: ["front", "method", "status"],
    buckets: BUCKETS,
    registers,
  });
  const theirCount = new Counter({
    name: "c_total",
    help: "Counted.",
    labelNames: ["front"],
    registers,
  });
  const ours = new LabeledHistogram({
    name: "h_seconds",
    help: 'A "help" text \\ with\nlines.',
    labelNames: ["front", "method", "status"],
    buckets: BUCKETS,
  });
  const ourCount = new LabeledCounter({ name: "c_total", help: "Counted.", labelNames: ["front"] });
  const samples: [string, string, string, number][] = [
    ["dav", "PUT", "201", 0.0004],
    ["dav", "PUT", "201", 0.001],
    ["dav", "GET", "200", 0.0031],
    ["api", "GET", "404", 0.7],
    ["dav", "PUT", "201", 45],
    ['we"ird\\', "OTHER", "500", 0.02],
    ["api", "GET", "404", 1e-7],
  ];
  for (const [front, method, status, seconds] of samples) {
    theirs.observe({ front, method, status }, seconds);
    ours.observe([front, method, status], seconds);
    theirCount.inc({ front }, Math.round(seconds * 1000));
    ourCount.inc([front], Math.round(seconds * 1000));
  }
  const expected = await registry.metrics();
  assertEquals(`${ours.render()}\n\n${ourCount.render()}\n`, expected);
});
