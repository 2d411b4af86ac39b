// The offline queue end to end: with the server down a report is kept, the
// service worker is stopped, the server comes back, and the alarm delivers
// the report exactly once. Then the same across a browser restart.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.js';

const VISIBLE = (id) => `#${id}:not([hidden])`;

let server;
let proxy;
let extDir;
let browser;

before(async () => {
  server = await h.createServer();
  await server.start();
  proxy = await h.createProxy(server.port);
  extDir = h.buildExtension(proxy.url);
  browser = await h.launch(extDir);
  console.log(`# e2e against the ${server.kind} server`);
});

after(async () => {
  await browser?.context.close();
  await proxy?.close();
  await server?.stop();
});

/** Reports that reached the server (not those refused at the door). */
const delivered = () => proxy.reached('POST', '/v1/reports').filter((e) => e.status === 202);

async function queueReport(path) {
  const tab = await browser.context.newPage();
  await tab.goto(`https://example.com/${path}`);
  const popup = await h.openPopup(browser, tab);
  await popup.waitForSelector(VISIBLE('view-form'));
  await popup.click('#send');
  await popup.waitForSelector(`${VISIBLE('view-queued')}, ${VISIBLE('view-done')}`, { timeout: 30_000 });
  return { tab, popup };
}

test('server down: queued, worker stopped, server back: delivered exactly once', async () => {
  // Let the extension get its token and the hotline list while the server is up.
  const warm = await browser.context.newPage();
  await warm.goto(`chrome-extension://${browser.extensionId}/ui/options.html`);
  await warm.waitForSelector('body[data-ready="true"]');
  await warm.close();

  await server.stop();
  const { tab, popup } = await queueReport('offline-1');
  assert.ok(await popup.isVisible('#view-queued'), 'the reporter is told it will be sent automatically');
  await h.screenshot(popup, 'queued-en');

  const queued = await h.storage(browser);
  assert.equal(queued.outbox.length, 1);
  const key = queued.outbox[0].key;
  assert.equal(queued.outbox[0].attempts, 1);
  assert.ok(queued.outbox[0].nextAttemptAt > Date.now(), 'a retry is scheduled');
  const alarm = await (await h.worker(browser)).evaluate(() => chrome.alarms.get('reportit-outbox'));
  assert.ok(alarm, 'an alarm will wake the worker');

  assert.ok(await h.stopServiceWorker(browser), 'the service worker was stopped');
  await server.start();

  // The alarm (about 30 s after the failure) wakes the worker, which sends it.
  await h.waitFor(() => delivered().length >= 1, { timeoutMs: 75_000, intervalMs: 500, what: 'the queued report to arrive' });
  // The open popup sees the report go out and shows the receipt.
  await popup.waitForSelector(VISIBLE('view-done'), { timeout: 10_000 });
  assert.ok((await popup.textContent('#reference')).trim().length > 0);

  // Give a second sender every chance to show itself, then count.
  await new Promise((r) => setTimeout(r, 3000));
  const sends = proxy.reached('POST', '/v1/reports');
  assert.equal(sends.length, 1, 'the server received the report once');
  assert.equal(sends[0].idempotencyKey, key, 'with the key it was queued under');
  assert.equal(JSON.parse(sends[0].body).url, 'https://example.com/offline-1');

  const after = await h.storage(browser);
  assert.deepEqual(after.outbox, []);
  assert.equal(after.history.filter((i) => i.key === key).length, 1);
  assert.equal(await (await h.worker(browser)).evaluate(() => chrome.alarms.get('reportit-outbox')), undefined, 'nothing left to wake for');
  await Promise.all([popup.close(), tab.close()]);
});

test('a report queued when the browser closes is sent after it restarts', async () => {
  await server.stop();
  const { popup } = await queueReport('offline-2');
  assert.ok(await popup.isVisible('#view-queued'));
  const { outbox } = await h.storage(browser);
  assert.equal(outbox.length, 1);
  const key = outbox[0].key;

  const profile = browser.userDataDir;
  await browser.context.close();
  await server.start();
  browser = await h.launch(extDir, profile);

  // On start the background retries what waited, without waiting for the
  // alarm. (Chromium re-installs a --load-extension build on every launch, so
  // here that is runtime.onInstalled; an installed copy gets onStartup.)
  await h.waitFor(() => proxy.reached('POST', '/v1/reports').some((e) => e.idempotencyKey === key && e.status === 202), {
    timeoutMs: 75_000,
    intervalMs: 500,
    what: 'the report queued before the restart',
  });
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(proxy.reached('POST', '/v1/reports').filter((e) => e.idempotencyKey === key).length, 1, 'sent once');
  assert.equal(delivered().length, 2, 'two reports in all, each once');
  const stored = await h.storage(browser);
  assert.deepEqual(stored.outbox, []);
  assert.equal(stored.history.length, 2);
});
