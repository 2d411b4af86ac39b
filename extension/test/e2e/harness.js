// End-to-end harness: the reportit server (the real Go binary, or the mock
// before the server exists), a counting proxy in front of it, the extension
// built for that address, and headless Chromium with the extension loaded.

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { build } from '../../tools/build.js';
import { createMockServer } from '../mock-server.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const EXT_ROOT = path.resolve(HERE, '../..');
export const REPO_ROOT = path.resolve(EXT_ROOT, '..');
export const ARTIFACTS = path.join(EXT_ROOT, 'test-artifacts');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export function tmpDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `reportit-${prefix}-`));
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a truthy value or the time is up. */
export async function waitFor(fn, { timeoutMs = 10_000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

// --- Server ------------------------------------------------------------------

/**
 * Which server the tests run against: REPORTIT_E2E_SERVER=real|mock, or by
 * default the real one when ../server exists. The real binary is built once
 * per test file with `go build -o <tmp>/reportit ./server`, unless
 * REPORTIT_SERVER_BIN names one already built.
 */
export function serverKind() {
  const want = process.env.REPORTIT_E2E_SERVER || 'auto';
  if (want === 'real' || want === 'mock') return want;
  return fs.existsSync(path.join(REPO_ROOT, 'server')) ? 'real' : 'mock';
}

let builtBinary = process.env.REPORTIT_SERVER_BIN || null; // a binary built beforehand, e.g. by CI
function buildServerBinary() {
  if (builtBinary) return builtBinary;
  const out = path.join(tmpDir('bin'), 'reportit');
  execFileSync('go', ['build', '-o', out, './server'], { cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  builtBinary = out;
  return out;
}

/**
 * A server that can be stopped and started again on the same port and data
 * directory (the "server down" of the offline tests).
 */
export async function createServer() {
  const kind = serverKind();
  const port = await freePort();
  const dataDir = tmpDir('data');
  let proc = null;
  let mock = null;
  const logFile = path.join(dataDir, 'server.log');

  async function start() {
    if (kind === 'mock') {
      mock = mock || createMockServer();
      await new Promise((r) => mock.server.listen(port, '127.0.0.1', r));
    } else {
      const bin = buildServerBinary();
      const log = fs.openSync(logFile, 'a');
      proc = spawn(bin, [], {
        env: { ...process.env, REPORTIT_ADDR: `127.0.0.1:${port}`, REPORTIT_DATA_DIR: dataDir },
        stdio: ['ignore', log, log],
      });
      proc.on('exit', () => fs.closeSync(log));
    }
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/v1/hotlines`)).ok, { timeoutMs: 20_000, what: 'server start' });
  }

  async function stop() {
    if (kind === 'mock') {
      if (mock.server.listening) {
        mock.server.closeAllConnections();
        await new Promise((r) => mock.server.close(r));
      }
    } else if (proc) {
      const p = proc;
      proc = null;
      if (p.exitCode === null) {
        const exited = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        await Promise.race([exited, sleep(5000).then(() => p.kill('SIGKILL'))]);
      }
    }
  }

  return { kind, port, dataDir, start, stop, logFile, mock: () => mock };
}

// --- Counting proxy ------------------------------------------------------------------

/**
 * Forwards everything to the server and writes down what reached it. When the
 * server is down the client's connection is dropped, as a dead server would.
 */
export async function createProxy(upstreamPort) {
  const port = await freePort();
  const log = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const entry = {
        method: req.method,
        path: req.url,
        idempotencyKey: req.headers['idempotency-key'] || '',
        authorization: req.headers.authorization ? 'Bearer' : '',
        body: body.length ? body.toString('utf8') : '',
        status: 0,
        responseBody: '',
      };
      const up = http.request(
        { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: { ...req.headers, host: `127.0.0.1:${upstreamPort}` } },
        (upRes) => {
          const out = [];
          upRes.on('data', (c) => out.push(c));
          upRes.on('end', () => {
            entry.status = upRes.statusCode;
            entry.responseBody = Buffer.concat(out).toString('utf8');
            log.push(entry);
            res.writeHead(upRes.statusCode, upRes.headers);
            res.end(Buffer.concat(out));
          });
        },
      );
      up.on('error', () => {
        entry.status = 'down';
        log.push(entry);
        req.socket.destroy();
      });
      up.end(body);
    });
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    log,
    reached: (method, p) => log.filter((e) => e.method === method && e.path.startsWith(p) && e.status !== 'down'),
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    },
  };
}

// --- Browser ------------------------------------------------------------------------

export function buildExtension(serverUrl) {
  const outDir = tmpDir('ext');
  return build({ browser: 'chrome', serverUrl, outDir, zip: false }).dir;
}

/** Headless Chromium with the unpacked extension and a fresh (or given) profile. */
export async function launch(extDir, userDataDir = tmpDir('profile')) {
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    ignoreDefaultArgs: ['--disable-extensions'],
    args: [
      `--disable-extensions-except=${extDir}`,
      `--load-extension=${extDir}`,
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--lang=en-GB',
      // Lets the test press the toolbar button over CDP (Extensions.triggerAction).
      '--enable-unsafe-extension-debugging',
    ],
    viewport: { width: 1000, height: 800 },
    locale: 'en-GB',
    // The browser's own language (i18n.getUILanguage, navigator.languages in
    // the worker) comes from the environment on Linux.
    env: { ...process.env, LANG: 'en_GB.UTF-8', LANGUAGE: 'en_GB:en' },
  });
  const worker = context.serviceWorkers()[0] || (await context.waitForEvent('serviceworker', { timeout: 15_000 }));
  const extensionId = new URL(worker.url()).host;
  // On install the extension opens its options page once (first run). Wait
  // for it and close it, so it cannot become the active tab mid-test.
  const welcome = await waitFor(() => context.pages().find((p) => p.url().startsWith(`chrome-extension://${extensionId}/ui/options.html`)), {
    what: 'the first-run options page',
  });
  await welcome.close();
  const cdp = await context.browser().newBrowserCDPSession();
  // Pages that stand for the web: the network is closed, so they are served here.
  await context.route(/^https:\/\/(www\.)?example\.(com|org)\//, (route) =>
    route.fulfill({
      status: 200,
      contentType: 'text/html',
      body: '<!doctype html><title>Example page</title><h1>A page on the web</h1><p><a id="l" href="https://example.org/target">a link</a></p>',
    }),
  );
  return { context, extensionId, cdp, userDataDir };
}

/** The live service worker, started again if the browser had stopped it. */
export async function worker(browser) {
  const url = `chrome-extension://${browser.extensionId}/background.js`;
  const live = browser.context.serviceWorkers().find((w) => w.url() === url);
  if (live) return live;
  // Opening an extension page wakes the worker.
  const page = await browser.context.newPage();
  await page.goto(`chrome-extension://${browser.extensionId}/ui/options.html`);
  const w = await waitFor(() => browser.context.serviceWorkers().find((x) => x.url() === url), { what: 'service worker' });
  await page.close();
  return w;
}

export async function storage(browser) {
  return (await worker(browser)).evaluate(() => chrome.storage.local.get(null));
}

/** Stops the extension's service worker the way the browser does when idle. */
export async function stopServiceWorker(browser) {
  const { targetInfos } = await browser.cdp.send('Target.getTargets');
  const sw = targetInfos.find((t) => t.type === 'service_worker' && t.url.startsWith(`chrome-extension://${browser.extensionId}/`));
  if (!sw) return false;
  await browser.cdp.send('Target.closeTarget', { targetId: sw.targetId });
  await waitFor(async () => {
    const { targetInfos: now } = await browser.cdp.send('Target.getTargets');
    return !now.some((t) => t.type === 'service_worker' && t.url.startsWith(`chrome-extension://${browser.extensionId}/`));
  }, { what: 'worker to stop' });
  return true;
}

/**
 * Presses the toolbar button on `tab` (granting activeTab as a real click
 * does), then opens the same popup page in a tab so the test can drive it.
 */
export async function openPopup(browser, tab, { width = 380, height = 600 } = {}) {
  const { targetInfos } = await browser.cdp.send('Target.getTargets', { filter: [{ type: 'tab', exclude: false }] });
  const target = targetInfos.find((t) => t.url === tab.url());
  if (!target) throw new Error(`no tab target for ${tab.url()}`);
  await browser.cdp.send('Extensions.triggerAction', { id: browser.extensionId, targetId: target.targetId });
  const popup = await browser.context.newPage();
  await popup.setViewportSize({ width, height });
  await popup.goto(`chrome-extension://${browser.extensionId}/ui/popup.html`);
  // The popup reports the active tab of its window: make that the web page.
  await tab.bringToFront();
  await popup.reload();
  return popup;
}

/** Saves test-artifacts/<name>.png: the viewport, or the whole page. */
export async function screenshot(page, name, { fullPage = false } = {}) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage });
}

/** Runs axe-core in the page; returns violations of serious or critical impact. */
export async function axe(page) {
  const source = fs.readFileSync(path.join(EXT_ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');
  await page.evaluate(source);
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } }),
  );
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }));
}
