// The intake's log explorer in a real browser (Debian's chromium, driven by playwright-core):
// the real `hydrant intake` binary, logs delivered as Firehose delivers Fluent Bit's records
// (and through /api/v2/logs), then a person's walk through the page: search, histogram,
// facets, the detail panel, include/exclude, state in the URL, live tail. A screenshot is
// left in tests/browser/artifacts/explorer.png.
//
//   HYDRANT_BIN=target/debug/hydrant node --test tests/browser/

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, existsSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const BIN = path.resolve(root, process.env.HYDRANT_BIN || "target/debug/hydrant");
const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
const SCREENSHOT = path.join(here, "artifacts", "explorer.png");
const API = "browser-test-api-key-0123456789";
const APP = "browser-test-app-key-0123456789";
const ARN = "arn:aws:firehose:us-east-1:123456789012:deliverystream/fargate-logs";

// What Fluent Bit (kubernetes filter, kinesis_firehose output) sends for the seed's nginx pod.
const nginx = (log, stream) => ({
  log,
  stream,
  kubernetes: {
    pod_name: "sample-app-6c8b449b8f-kq2qz",
    namespace_name: "fargate-namespace",
    pod_id: "4f3a2b1c-7d6e-4a5b-9c8d-0e1f2a3b4c5d",
    host: "fargate-ip-192-168-110-121.ec2.internal",
    container_name: "nginx",
    docker_id: "9a2c6e4b1f0d8e7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c",
    container_hash: "nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31",
    container_image: "nginx",
  },
});
const NOTICE_EPOLL = '2023/01/27 16:53:42 [notice] 1#1: using the "epoll" event method';
const NOTICE_WORKERS = "2023/01/27 16:53:42 [notice] 1#1: start worker processes";
const ACCESS = '192.168.110.1 - - [27/Jan/2023:16:54:10 +0000] "GET /orders HTTP/1.1" 200 615 "-" "curl/7.88.1" "-"';
const COREDNS = "[ERROR] plugin/errors: 2 example.org. A: read udp 10.0.0.5:53->10.0.0.2:53: i/o timeout";
const FIREHOSE_RECORDS = [
  nginx(NOTICE_EPOLL, "stderr"),
  nginx(NOTICE_WORKERS, "stderr"),
  nginx(ACCESS, "stdout"),
  // Another namespace; Fluent Bit's Merge_Log lifted the app's own `level`.
  {
    log: COREDNS,
    stream: "stdout",
    level: "error",
    kubernetes: {
      pod_name: "coredns-7975d6fb9b-xk2mn",
      namespace_name: "kube-system",
      container_name: "coredns",
      docker_id: "1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00",
    },
  },
];
const V2_LOGS = [
  { message: "payment declined for order 4411", ddsource: "python", service: "checkout", hostname: "web-1", status: "error", ddtags: "env:prod,team:payments" },
  { message: "order 4412 paid", ddsource: "python", service: "checkout", hostname: "web-1", status: "info", ddtags: "env:prod,team:payments" },
  { message: "invoice batch finished late", ddsource: "java", service: "billing", hostname: "web-2", level: "warn", ddtags: "env:staging" },
];
const FIREHOSE_MESSAGES = FIREHOSE_RECORDS.map((r) => r.log);
const ALL = FIREHOSE_RECORDS.length + V2_LOGS.length;

// The seed's "EKS Fargate Log Pipeline": four remappers from attributes to the Kubernetes tags.
const remap = (source, target) => ({
  type: "attribute-remapper", name: `Remap ${source} to ${target}`, is_enabled: true, sources: [source],
  source_type: "attribute", target, target_type: "tag", preserve_source: true, override_on_conflict: false,
});
const SEED_PIPELINE = {
  name: "EKS Fargate Log Pipeline",
  is_enabled: true,
  filter: { query: "service:aws source:aws" },
  processors: [
    remap("kubernetes.container_name", "kube_container_name"),
    remap("kubernetes.namespace_name", "kube_namespace"),
    remap("kubernetes.pod_name", "pod_name"),
    remap("kubernetes.docker_id", "container_id"),
  ],
};

let intake, browser, context, page;
const pageProblems = [];

async function startIntake() {
  assert.ok(existsSync(BIN), `no hydrant binary at ${BIN} (cargo build -p hydrant, or set HYDRANT_BIN)`);
  const dir = mkdtempSync(path.join(tmpdir(), "hydrant-browser-"));
  const child = spawn(BIN, ["intake", "--listen", "127.0.0.1:0", "--data-dir", dir, "--api-key", API, "--app-key", APP], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "", stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`intake did not start within 20 s:\n${stderr}`)), 20000);
    child.stdout.on("data", (d) => {
      stdout += d;
      const m = /hydrant intake listening on (http:\/\/\S+)/.exec(stdout);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on("exit", (code, sig) => { clearTimeout(timer); reject(new Error(`intake exited (${code ?? sig}):\n${stderr}`)); });
  });
  return { child, dir, base, stderr: () => stderr };
}

async function call(method, url, headers, body) {
  const r = await fetch(intake.base + url, { method, headers: { "Content-Type": "application/json", ...headers }, body });
  const text = await r.text();
  return { status: r.status, text, json: () => JSON.parse(text) };
}

let requests = 0;
// One delivery exactly as Firehose makes it to an HTTP endpoint destination.
async function firehose(records) {
  const requestId = `${Date.now().toString(16)}-browser-${++requests}`;
  const body = {
    requestId,
    timestamp: Date.now(),
    records: records.map((r) => ({ data: Buffer.from(JSON.stringify(r) + "\n").toString("base64") })),
  };
  const r = await call("POST", "/v1/input", {
    "User-Agent": "Amazon Kinesis Data Firehose Agent/1.0",
    "X-Amz-Firehose-Protocol-Version": "1.0",
    "X-Amz-Firehose-Request-Id": requestId,
    "X-Amz-Firehose-Access-Key": API,
    "X-Amz-Firehose-Source-Arn": ARN,
    "X-Amz-Firehose-Common-Attributes": JSON.stringify({ commonAttributes: { env: "fargate-demo" } }),
  }, JSON.stringify(body));
  assert.equal(r.status, 200, `Firehose delivery refused: ${r.text}`);
  assert.equal(r.json().requestId, requestId);
}

async function v2logs(logs) {
  const r = await call("POST", "/api/v2/logs", { "DD-API-KEY": API }, JSON.stringify(logs));
  assert.equal(r.status, 202, `/api/v2/logs refused: ${r.text}`);
}

async function searchApi(query) {
  const r = await call("POST", "/api/v2/logs/events/search", { "DD-API-KEY": API, "DD-APPLICATION-KEY": APP },
    JSON.stringify({ filter: { query, from: "now-15m", to: "now" }, page: { limit: 100 } }));
  assert.equal(r.status, 200, r.text);
  return r.json().data;
}

// Polls `get` until `ok(value)`; fails with the last value seen.
async function eventually(what, get, ok, ms = 10000) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    last = await get();
    if (ok(last)) return last;
    if (Date.now() > end) assert.fail(`${what}; last seen: ${JSON.stringify(last)}`);
    await sleep(100);
  }
}

const rows = () => page.$$eval("#rows tr.log", (trs) => trs.map((tr) => ({
  id: tr.dataset.id,
  status: tr.querySelector("td.status").textContent.trim(),
  service: tr.querySelector("td.service").textContent.trim(),
  msg: tr.querySelector("td.msg").textContent,
  selected: tr.getAttribute("aria-selected"),
})));
const facet = (name) => page.$$eval(`#facets section.facet[data-facet="${name}"] button`, (bs) =>
  Object.fromEntries(bs.map((b) => [b.dataset.value, Number(b.querySelector(".n").textContent.replace(/\D/g, ""))])));
const searchbox = () => page.getByRole("searchbox", { name: "Search query" });
const detail = () => page.getByRole("complementary", { name: "Log detail" });
const urlState = () => Object.fromEntries(new URL(page.url()).searchParams);
const idle = () => page.waitForSelector('#center[aria-busy="false"]', { timeout: 10000 });
const sameSet = (a, b) => a.length === b.length && [...a].sort().join("\n") === [...b].sort().join("\n");

before(async () => {
  intake = await startIntake();
  const p = await call("POST", "/api/v1/logs/config/pipelines", { "DD-API-KEY": API, "DD-APPLICATION-KEY": APP },
    JSON.stringify(SEED_PIPELINE));
  assert.equal(p.status, 200, `creating the seed pipeline: ${p.text}`);
  await firehose(FIREHOSE_RECORDS);
  await v2logs(V2_LOGS);
  await eventually(`all ${ALL} logs searchable`, async () => (await searchApi("*")).length, (n) => n === ALL, 15000);
  const tagged = await searchApi("kube_namespace:fargate-namespace");
  assert.equal(tagged.length, 3, "the seed pipeline tags the nginx logs");

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: "en-US", timezoneId: "UTC" });
  page = await context.newPage();
  page.setDefaultTimeout(10000);
  page.on("pageerror", (e) => pageProblems.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") pageProblems.push(`console error: ${m.text()}`); });
  page.on("requestfailed", (r) => {
    // The live tail's stream is cut when the page reloads or the tail restarts: expected.
    if (!r.url().includes("/api/v2/logs/tail")) pageProblems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
});

after(async () => {
  await browser?.close().catch(() => {});
  if (intake) {
    intake.child.kill("SIGTERM");
    await Promise.race([new Promise((r) => intake.child.once("exit", r)), sleep(5000)]);
    if (intake.child.exitCode === null && intake.child.signalCode === null) intake.child.kill("SIGKILL");
    rmSync(intake.dir, { recursive: true, force: true });
  }
});

test("the log explorer, as a person uses it", { timeout: 60000 }, async (t) => {
  await t.test("opens with the keys from the URL fragment, then forgets them from the address bar", async () => {
    await page.goto(`${intake.base}/#api_key=${API}&app_key=${APP}`);
    await idle();
    assert.equal(new URL(page.url()).hash, "", "keys left in the address bar");
    const stored = JSON.parse(await page.evaluate(() => localStorage.getItem("hydrant.keys")));
    assert.deepEqual(stored, { api: API, app: APP });
    assert.equal(await page.title(), "Hydrant · Log Explorer");
    const all = await rows();
    assert.equal(all.length, ALL);
    const ids = all.map((r) => r.id);
    assert.deepEqual(ids, [...ids].sort().reverse(), "newest first");
    // Tag facets: the common attribute of the Firehose stream, ddtags, a tag key found in the logs.
    assert.deepEqual(await facet("env"), { "fargate-demo": 4, prod: 2, staging: 1 });
    assert.deepEqual(await facet("team"), { payments: 2 });
    assert.deepEqual(await facet("service"), { aws: 4, checkout: 2, billing: 1 });
  });

  await t.test("search source:aws lists only the Firehose logs", async () => {
    await searchbox().fill("source:aws");
    await searchbox().press("Enter");
    await idle();
    const got = await eventually("4 rows for source:aws", rows, (r) => r.length === 4);
    assert.ok(sameSet(got.map((r) => r.msg), FIREHOSE_MESSAGES), JSON.stringify(got));
    assert.ok(got.every((r) => r.service === "aws"));
    assert.equal(urlState().query, "source:aws");
    assert.match(await page.textContent("#count"), /^4 logs/);
  });

  await t.test("the histogram has bars for the matching logs", async () => {
    const bars = await page.$$eval("#histogram .bar", (bs) => bs.map((b) => ({ n: Number(b.dataset.count), h: b.getBoundingClientRect().height })));
    assert.ok(bars.length >= 30 && bars.length <= 81, `${bars.length} bars`);
    assert.equal(bars.reduce((s, b) => s + b.n, 0), 4, "bars add up to the matching logs");
    const tall = bars.filter((b) => b.n > 0);
    assert.ok(tall.length >= 1 && tall.every((b) => b.h >= 10), JSON.stringify(tall));
    assert.match(await page.getByRole("img", { name: /^Histogram/ }).getAttribute("aria-label"), /4 logs/);
  });

  await t.test("the facets panel shows top values with counts", async () => {
    const facets = page.getByRole("navigation", { name: "Facets" });
    await facets.getByRole("region", { name: "service", exact: true }).waitFor();
    assert.deepEqual(await facet("service"), { aws: 4 });
    assert.deepEqual(await facet("source"), { aws: 4 });
    assert.deepEqual(await facet("status"), { info: 3, error: 1 });
    assert.deepEqual(await facet("kube_namespace"), { "fargate-namespace": 3, "kube-system": 1 });
    assert.deepEqual(await facet("pod_name"), { "sample-app-6c8b449b8f-kq2qz": 3, "coredns-7975d6fb9b-xk2mn": 1 });
    assert.deepEqual(await facet("kube_container_name"), { nginx: 3, coredns: 1 });
    assert.equal(await page.$('#facets section.facet[data-facet="host"]'), null, "no host on Firehose logs: no host facet");
    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, "-list.png") });
  });

  await t.test("clicking a facet value adds key:value to the query and narrows the list", async () => {
    await page.getByRole("region", { name: "status", exact: true }).getByRole("button", { name: "info (3)" }).click();
    await idle();
    assert.equal(await searchbox().inputValue(), "source:aws status:info");
    const got = await eventually("3 rows for status:info", rows, (r) => r.length === 3);
    assert.ok(got.every((r) => r.status === "info" && r.service === "aws"));
    assert.equal(urlState().query, "source:aws status:info");
    assert.equal(await page.getAttribute('#facets section[data-facet="status"] button[data-value="info"]', "aria-pressed"), "true");
  });

  let opened;
  await t.test("a row opens the detail panel: message, reserved attributes, tags, attribute tree", async () => {
    await page.locator("#rows tr.log", { hasText: "GET /orders" }).click();
    await detail().waitFor({ state: "visible" });
    opened = (await rows()).find((r) => r.msg === ACCESS);
    assert.equal(opened.selected, "true");
    assert.equal(urlState().log, opened.id);
    assert.equal(await detail().getByLabel("Message").textContent(), ACCESS);
    const field = (f) => page.textContent(`#detail dd[data-field="${f}"]`);
    assert.equal(await field("service"), "aws");
    assert.equal(await field("source"), "aws");
    assert.equal(await field("status"), "info");
    assert.equal(await field("host"), "none");
    assert.match(await field("date"), /\d{4}-\d\d-\d\dT/);
    const tags = await page.$$eval("#detail .tags .tag", (ts) => ts.map((t) => t.textContent));
    for (const want of ["kube_namespace:fargate-namespace", "kube_container_name:nginx", "pod_name:sample-app-6c8b449b8f-kq2qz",
      "container_id:" + FIREHOSE_RECORDS[0].kubernetes.docker_id, "env:fargate-demo"]) {
      assert.ok(tags.includes(want), `tag ${want} in ${tags}`);
    }
    const attr = (p) => page.textContent(`#detail .tree .row[data-path="${p}"] .val`);
    assert.equal(await attr("kubernetes.namespace_name"), "fargate-namespace");
    assert.equal(await attr("kubernetes.container_name"), "nginx");
    assert.equal(await attr("aws.firehose.arn"), ARN);
    assert.equal(await attr("stream"), "stdout");
    // Nested attributes are a tree, not a JSON string.
    assert.ok(await page.$('#detail .tree details[data-path="kubernetes"] .row[data-path="kubernetes.pod_name"]'));
  });

  await t.test("include from an attribute adds @kubernetes.namespace_name:fargate-namespace", async () => {
    await detail().getByRole("button", { name: "Include @kubernetes.namespace_name: @kubernetes.namespace_name:fargate-namespace" }).click();
    await idle();
    const q = "source:aws status:info @kubernetes.namespace_name:fargate-namespace";
    assert.equal(await searchbox().inputValue(), q);
    assert.equal(urlState().query, q);
    const got = await eventually("3 rows in fargate-namespace", rows, (r) => r.length === 3);
    assert.ok(sameSet(got.map((r) => r.msg), [NOTICE_EPOLL, NOTICE_WORKERS, ACCESS]));
    assert.ok(await detail().isVisible(), "the detail stays open");
  });

  await t.test("the state is in the URL: a reload restores the query, the time range and the open log", async () => {
    await page.getByRole("combobox", { name: "Time range" }).selectOption("now-1h");
    await idle();
    assert.equal(urlState().from, "now-1h");
    assert.match(await page.textContent("#hist-step"), /1 min/);
    const before = urlState();
    await page.reload();
    await idle();
    assert.deepEqual(urlState(), before);
    assert.equal(await searchbox().inputValue(), before.query);
    assert.equal(await page.getByRole("combobox", { name: "Time range" }).inputValue(), "now-1h");
    await detail().waitFor({ state: "visible" });
    assert.equal(await detail().getByLabel("Message").textContent(), ACCESS);
    const got = await rows();
    assert.equal(got.length, 3);
    assert.equal(got.find((r) => r.id === opened.id).selected, "true");
  });

  await t.test("exclude narrows, and Back returns to the previous search", async () => {
    const q = urlState().query;
    await detail().getByRole("button", { name: "Exclude @stream: -@stream:stdout" }).click();
    await idle();
    assert.equal(await searchbox().inputValue(), q + " -@stream:stdout");
    const got = await eventually("2 stderr rows", rows, (r) => r.length === 2);
    assert.ok(sameSet(got.map((r) => r.msg), [NOTICE_EPOLL, NOTICE_WORKERS]));
    await page.goBack();
    await idle();
    assert.equal(await searchbox().inputValue(), q);
    await eventually("3 rows again after Back", rows, (r) => r.length === 3);
  });

  await t.test("live tail streams new matching logs to the top of the list", async () => {
    await page.getByRole("button", { name: "Live tail" }).click();
    await eventually("the live tail connects", () => page.textContent("#live-status"), (s) => s === "Live: streaming");
    assert.equal(await page.getAttribute("#live", "aria-pressed"), "true");
    assert.equal(urlState().live, "1");
    const first = '192.168.110.7 - - [27/Jan/2023:16:58:01 +0000] "GET /live-tail-1 HTTP/1.1" 200 615 "-" "curl/7.88.1" "-"';
    const second = '192.168.110.7 - - [27/Jan/2023:16:58:02 +0000] "GET /live-tail-2 HTTP/1.1" 200 615 "-" "curl/7.88.1" "-"';
    await v2logs([{ message: "not for this query: checkout is not Firehose", service: "checkout", ddsource: "python" }]);
    await firehose([nginx(first, "stdout")]);
    await eventually("the first new log on top", rows, (r) => r.length === 4 && r[0].msg === first);
    await firehose([nginx(second, "stdout")]);
    const got = await eventually("the second new log on top", rows, (r) => r.length === 5 && r[0].msg === second);
    assert.equal(got[1].msg, first);
    assert.ok(!got.some((r) => r.msg.startsWith("not for this query")), "the tail applies the query");
    assert.match(await page.textContent("#count"), /2 new from live tail/);
  });

  await t.test("screenshot", async () => {
    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, animations: "disabled" });
    assert.ok(statSync(SCREENSHOT).size > 20000);
  });

  await t.test("no page errors, no failed requests", () => {
    assert.deepEqual(pageProblems, []);
  });

  await t.test("a malformed query shows the intake's error next to the search bar", async () => {
    await page.getByRole("button", { name: "Live tail" }).click();
    assert.equal(await page.getAttribute("#live", "aria-pressed"), "false");
    await searchbox().fill("status:(info");
    await searchbox().press("Enter");
    await idle();
    const alert = page.getByRole("alert");
    await alert.waitFor({ state: "visible" });
    assert.match(await alert.textContent(), /invalid query/);
    assert.equal(await searchbox().getAttribute("aria-invalid"), "true");
    // The browser reports the refused searches themselves (400), nothing else.
    assert.ok(pageProblems.length > 0 && pageProblems.every((p) => p.includes("status of 400")), JSON.stringify(pageProblems));
  });

  await t.test("without keys, or with refused keys, the page asks for them", async () => {
    const fresh = await browser.newContext({ viewport: { width: 1000, height: 700 }, locale: "en-US", timezoneId: "UTC" });
    try {
      const p = await fresh.newPage();
      await p.goto(`${intake.base}/#api_key=wrong&app_key=wrong`);
      const form = p.getByRole("form", { name: "Keys" });
      await form.waitFor();
      assert.match(await form.getByRole("alert").textContent(), /refused/);
      await p.screenshot({ path: SCREENSHOT.replace(/\.png$/, "-keys.png") });
      assert.ok(!(await p.getByRole("searchbox", { name: "Search query" }).isVisible()));
      await form.getByLabel("API key").fill(API);
      await form.getByLabel("Application key").fill(APP);
      await form.getByRole("button", { name: "Open the explorer" }).click();
      await p.waitForSelector('#center[aria-busy="false"]');
      assert.ok((await p.$$("#rows tr.log")).length >= ALL);
    } finally {
      await fresh.close();
    }
  });
});
