// Counting how often a test's code renders dates: a stand-in for how many members a listing
// rendered (each member's time is rendered once, in a second of its own; `httpDate` keeps
// the text of the last second it rendered, so equal seconds count once).

/** Calls of `Date.prototype[method]` made while `fn` runs. */
export async function dateCalls<T>(
  method: "toUTCString" | "toISOString",
  fn: () => Promise<T>,
): Promise<{ calls: number; result: T }> {
  const original = Date.prototype[method];
  let calls = 0;
  Date.prototype[method] = function (this: Date) {
    calls++;
    return original.call(this);
  };
  try {
    return { result: await fn(), calls };
  } finally {
    Date.prototype[method] = original;
  }
}
