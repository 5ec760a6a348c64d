// `hydrant up` seen through the explorer page in a real browser (Debian's chromium, driven by
// playwright-core): the real binary on a fresh data directory; within 5 seconds of start the
// page, searched for `source:aws`, lists the simulated sample app's nginx lines, and a log's
// detail panel shows the four Kubernetes tags of the seed's pipeline. Screenshot:
// tests/browser/artifacts/up.png.
//
//   HYDRANT_BIN=target/debug/hydrant node --test tests/browser/

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const BIN = path.resolve(root, process.env.HYDRANT_BIN || "target/debug/hydrant");
const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
const SCREENSHOT = path.join(here, "artifacts", "up.png");

const freePort = () => new Promise((resolve) => {
  const s = createServer();
  s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

let up, browser;

after(async () => {
  await browser?.close().catch(() => {});
  if (up) {
    up.child.kill("SIGTERM");
    await Promise.race([new Promise((r) => up.child.once("exit", r)), sleep(10000)]);
    if (up.child.exitCode === null && up.child.signalCode === null) up.child.kill("SIGKILL");
    rmSync(up.dir, { recursive: true, force: true });
  }
});

test("hydrant up: the seed's nginx logs, tagged, in the explorer within 5 seconds", { timeout: 60000 }, async () => {
  assert.ok(existsSync(BIN), `no hydrant binary at ${BIN} (cargo build -p hydrant, or set HYDRANT_BIN)`);
  const dir = mkdtempSync(path.join(tmpdir(), "hydrant-up-browser-"));
  const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const started = Date.now();
  const child = spawn(BIN, ["up", "--data-dir", path.join(dir, "data"),
    "--firehose-listen", `127.0.0.1:${ports[0]}`, "--firehose-tls-listen", `127.0.0.1:${ports[1]}`,
    "--intake-listen", `127.0.0.1:${ports[2]}`, "--router-http-listen", `127.0.0.1:${ports[3]}`], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  up = { child, dir };
  let stdout = "", stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  const explorer = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hydrant up did not start within 20 s:\n${stderr}`)), 20000);
    child.stdout.on("data", (d) => {
      stdout += d;
      const m = /explorer\s+(http:\/\/\S+#api_key=\S+)/.exec(stdout);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on("exit", (code, sig) => { clearTimeout(timer); reject(new Error(`hydrant up exited (${code ?? sig}):\n${stderr}`)); });
  });

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
  const page = await (await browser.newContext({ viewport: { width: 1440, height: 900 }, timezoneId: "UTC" })).newPage();
  page.setDefaultTimeout(10000);
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  await page.goto(explorer);
  const searchbox = page.getByRole("searchbox", { name: "Search query" });
  const nginxRows = () => page.locator("#rows tr.log", { hasText: "HTTP/1.1" });
  // Search until the first nginx access line shows (the page as a person would refresh it).
  for (;;) {
    await searchbox.fill("source:aws");
    await searchbox.press("Enter");
    await page.waitForSelector('#center[aria-busy="false"]');
    if (await nginxRows().count() > 0) break;
    assert.ok(Date.now() - started < 5000, `no source:aws nginx line in the explorer 5 s after start:\n${stderr.slice(-3000)}`);
    await sleep(200);
  }
  const elapsed = (Date.now() - started) / 1000;
  await nginxRows().first().click();
  const detail = page.getByRole("complementary", { name: "Log detail" });
  await detail.waitFor({ state: "visible" });
  const tags = await page.$$eval("#detail .tags .tag", (ts) => ts.map((t) => t.textContent));
  for (const want of [/^kube_container_name:nginx$/, /^kube_namespace:fargate-namespace$/, /^pod_name:sample-app-6c8b449b8f-\w{5}$/,
    /^container_id:[0-9a-f]{64}$/]) {
    assert.ok(tags.some((t) => want.test(t)), `a tag matching ${want} in ${tags}`);
  }
  assert.equal(await page.textContent('#detail dd[data-field="source"]'), "aws");
  assert.equal(await page.textContent('#detail dd[data-field="service"]'), "aws");
  await page.screenshot({ path: SCREENSHOT, animations: "disabled" });
  assert.deepEqual(problems, []);
  console.log(`explorer showed tagged source:aws nginx lines ${elapsed.toFixed(2)} s after hydrant up started`);
});
