// Test helper: Debian's Chromium for the browser tests. Without it a browser test fails under
// CI=true (.ci/run installs it) and is skipped elsewhere, saying so.

/** Where Debian's chromium package puts the browser. */
export const CHROMIUM = "/usr/bin/chromium";

const CI = Deno.env.get("CI") === "true";

/** Whether the browser is installed. */
export const haveChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

/** Whether the browser test file `name` is skipped here (no browser, not CI); says so. */
export function skipBrowser(name: string): boolean {
  const skip = !haveChromium && !CI;
  if (skip) console.warn(`${name}: skipped: no ${CHROMIUM} (apt-get install chromium)`);
  return skip;
}

/** Fails a browser test that runs without the browser (under CI, which must have it). */
export function needChromium(): void {
  if (!haveChromium) throw new Error(`CI needs ${CHROMIUM}: .ci/run installs Debian's chromium`);
}
