// Drives the image service's page in headless Chromium (Debian's /usr/bin/chromium, through
// playwright-core) for tests/image.rs:
//
//   node image-page.mjs <page url> <out dir> <image file>::<ops> [...]
//
// For each case it picks the image, types the operations, clicks Run, waits for the page to
// finish, and writes <out dir>/<n>.json: the page's window.imageService (sizes, times, and the
// Wasm, JavaScript and server outputs' pixels in base64). Last, <out dir>/page.png, a
// screenshot of the page.
import { chromium } from "playwright-core";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const [url, outDir, ...cases] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  // As root in a sandboxed machine: no Chromium sandbox, no GPU, no calls home.
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.status === "ready", null, { timeout: 30000 });
  for (const [index, spec] of cases.entries()) {
    const [file, ops] = spec.split("::");
    // Emptied first: picking the file the input already holds fires no `change` event.
    await page.setInputFiles("#file", []);
    await page.setInputFiles("#file", file);
    await page.waitForFunction(() => document.getElementById("status").textContent === "Ready.", null, { timeout: 30000 });
    await page.fill("#ops", ops);
    await page.evaluate(() => { document.body.dataset.status = "ready"; });
    await page.click("#run");
    await page.waitForFunction(() => ["done", "failed"].includes(document.body.dataset.status), null, { timeout: 120000 });
    const status = await page.evaluate(() => document.body.dataset.status);
    if (status !== "done") throw new Error(`case ${index} (${spec}): ${await page.textContent("#status")}`);
    const result = await page.evaluate(() => window.imageService);
    result.verdict = await page.textContent("#verdict");
    writeFileSync(join(outDir, `${index}.json`), JSON.stringify(result));
  }
  await page.screenshot({ path: join(outDir, "page.png"), fullPage: true });
  if (errors.length) throw new Error(`errors in the page: ${errors.join("; ")}`);
} finally {
  await browser.close();
}
