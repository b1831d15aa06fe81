// The gateway's status page (GET /) in a real headless Chromium, driven by Playwright.
// Usage: TETHER_NODE_MODULES=DIR node status_page.mjs BASE_URL STEADY CRASHY [SCREENSHOT]
//   DIR       the node_modules holding playwright-core (setup.sh installs it)
//   BASE_URL  the gateway's origin, e.g. http://127.0.0.1:7777
//   STEADY    an upstream that stays connected
//   CRASHY    an upstream whose process exits on any tools/call (`restart: "never"`)
// Checks, each waiting for the page itself (no sleeps): both servers render as connected; a
// tools/call sent to CRASHY through the gateway's MCP endpoint makes the page show CRASHY failed
// without a reload, while STEADY stays connected. Prints one JSON line; exits 1 on failure.
import { createRequire } from "node:module";
import { join } from "node:path";

// playwright-core lives in the interop cache, not beside this script.
const modules = process.env.TETHER_NODE_MODULES;
if (!modules) {
  console.error("status_page.mjs: set TETHER_NODE_MODULES to the node_modules with playwright-core");
  process.exit(2);
}
const { chromium } = createRequire(join(modules, "noop.js"))("playwright-core");

const [base, steady, crashy, screenshot] = process.argv.slice(2);
if (!base || !steady || !crashy) {
  console.error("usage: node status_page.mjs BASE_URL STEADY CRASHY [SCREENSHOT]");
  process.exit(2);
}
const WAIT_MS = 20000; // a bound on each wait, not a measurement

// The state cell of each server row, as the page shows it: { name: { cls, text } }.
const rowsOf = () =>
  Object.fromEntries(
    [...document.querySelectorAll("#rows tr")].map((tr) => {
      const name = tr.querySelector("td b")?.textContent ?? "";
      const state = tr.querySelectorAll("td")[1];
      return [name, { cls: state?.className ?? "", text: state?.textContent ?? "" }];
    }),
  );

// A minimal MCP client over Streamable HTTP: initialize, initialized, one tools/call.
async function callThroughGateway(tool) {
  const url = `${base}/mcp`;
  const headers = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
  };
  const post = (body, extra = {}) =>
    fetch(url, { method: "POST", headers: { ...headers, ...extra }, body: JSON.stringify(body) });
  const init = await post({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "status-page-check", version: "1" },
    },
  });
  const session = init.headers.get("mcp-session-id");
  await init.text();
  const extra = { "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" };
  await (await post({ jsonrpc: "2.0", method: "notifications/initialized" }, extra)).text();
  const call = await post(
    { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: tool, arguments: { text: "x" } } },
    extra,
  );
  return { status: call.status, body: await call.text() };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  // This machine has no network beyond loopback: keep Chromium from reaching out at start.
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const result = { ok: false, steps: [] };
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${base}/`);
  await page.waitForFunction(
    ([a, b]) => {
      const cells = Object.fromEntries(
        [...document.querySelectorAll("#rows tr")].map((tr) => [
          tr.querySelector("td b")?.textContent,
          tr.querySelectorAll("td")[1]?.className,
        ]),
      );
      return cells[a] === "connected" && cells[b] === "connected";
    },
    [steady, crashy],
    { timeout: WAIT_MS },
  );
  result.steps.push({ rendered: await page.evaluate(rowsOf) });
  result.steps.push({ meta: await page.textContent("#meta") });

  // Mark this document: if the page reloaded to show the change, the mark is gone.
  await page.evaluate(() => (window.__tetherMark = "same document"));
  result.steps.push({ call: await callThroughGateway(`${crashy}__echo`) });
  await page.waitForFunction(
    (b) => {
      const tr = [...document.querySelectorAll("#rows tr")].find(
        (r) => r.querySelector("td b")?.textContent === b,
      );
      return tr?.querySelectorAll("td")[1]?.className === "failed";
    },
    crashy,
    { timeout: WAIT_MS },
  );
  const after = await page.evaluate(rowsOf);
  const mark = await page.evaluate(() => window.__tetherMark);
  result.steps.push({ updated: after, mark });
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  const problems = [];
  if (mark !== "same document") problems.push("the page reloaded instead of updating");
  if (after[steady]?.cls !== "connected") problems.push(`${steady} is no longer connected`);
  if (!after[crashy]?.text) problems.push(`${crashy} shows no status text`);
  if (errors.length) problems.push(`page errors: ${errors.join("; ")}`);
  result.problems = problems;
  result.ok = problems.length === 0;
} catch (e) {
  result.error = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
