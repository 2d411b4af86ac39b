// Reporting end to end: the toolbar popup, the context-menu handler for a
// link and for a data: image, recovery from a 401, accessibility, and
// screenshots in two languages. One server and one browser for the file.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.js';

const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const VISIBLE = (id) => `#${id}:not([hidden])`;

let server;
let proxy;
let browser;

before(async () => {
  server = await h.createServer();
  await server.start();
  proxy = await h.createProxy(server.port);
  browser = await h.launch(h.buildExtension(proxy.url));
  console.log(`# e2e against the ${server.kind} server`);
});

after(async () => {
  await browser?.context.close();
  await proxy?.close();
  await server?.stop();
});

const reportsReached = () => proxy.reached('POST', '/v1/reports');
const lastReportBody = () => JSON.parse(reportsReached().at(-1).body);

async function webPage(url) {
  const page = await browser.context.newPage();
  await page.goto(url);
  return page;
}

/** Runs the context-menu handler in the worker and returns the form it opens. */
async function menuClick(info) {
  const opened = browser.context.waitForEvent('page', { predicate: (p) => p.url().includes('/ui/popup.html?draft='), timeout: 10_000 });
  const w = await h.worker(browser);
  await w.evaluate((i) => globalThis.reportitDebug.onMenuClicked(i, { id: -1, url: i.pageUrl }), info);
  const form = await opened;
  await form.setViewportSize({ width: 440, height: 680 });
  await form.waitForSelector(`${VISIBLE('view-form')}, ${VISIBLE('view-blocked')}`);
  return form;
}

/** Shows the whole form (the send bar is sticky in the real popup) and saves it. */
async function fullScreenshot(page, name) {
  await page.evaluate(() => {
    for (const el of document.querySelectorAll('.actions')) el.style.position = 'static';
  });
  await h.screenshot(page, name, { fullPage: true });
  await page.evaluate(() => {
    for (const el of document.querySelectorAll('.actions')) el.style.position = '';
  });
}

async function send(form) {
  await form.click('#send');
  await form.waitForSelector(`${VISIBLE('view-done')}, ${VISIBLE('view-queued')}, .form-error:not([hidden]), .field-error:not([hidden])`, { timeout: 30_000 });
}

test('a web page has no way to reach the extension or its token', async () => {
  const page = await webPage('https://example.com/outside');
  const reach = await page.evaluate(async (id) => {
    if (!globalThis.chrome || !chrome.runtime || !chrome.runtime.sendMessage) return 'no runtime API';
    try {
      await chrome.runtime.sendMessage(id, { type: 'page.init', payload: {} });
      return 'answered';
    } catch (err) {
      return `refused: ${err.message}`;
    }
  }, browser.extensionId);
  assert.notEqual(reach, 'answered');
  await page.close();
});

test('report the current page from the toolbar popup', async () => {
  const tab = await webPage('https://example.com/some/page?x=1');
  const popup = await h.openPopup(browser, tab);
  await popup.waitForSelector(VISIBLE('view-form'));
  assert.equal(await popup.textContent('#url'), 'https://example.com/some/page?x=1');
  assert.equal(await popup.inputValue('#content-type'), 'page');
  assert.match(await popup.textContent('#destination'), /Your report goes to .+\(United Kingdom\)|hotline for/);
  await h.screenshot(popup, 'popup-en');
  await fullScreenshot(popup, 'popup-en-full');

  await popup.check('input[name="category"][value="grooming"]');
  await popup.fill('#comment', 'Second picture from the top.');
  const before = reportsReached().length;
  await send(popup);
  assert.ok(await popup.isVisible('#view-done'), 'the receipt is shown');
  const reference = (await popup.textContent('#reference')).trim();
  assert.ok(reference.length > 0);
  assert.match(await popup.textContent('#status-line'), /Received|Delivered|own form/);
  await h.screenshot(popup, 'receipt-en');

  const reached = reportsReached().slice(before);
  assert.equal(reached.length, 1, 'sent once');
  assert.equal(reached[0].status, 202);
  assert.match(reached[0].idempotencyKey, UUID4);
  const body = JSON.parse(reached[0].body);
  assert.equal(body.url, 'https://example.com/some/page?x=1');
  assert.equal(body.content_type, 'page');
  assert.equal(body.category, 'grooming');
  assert.equal(body.country, 'GB');
  assert.equal(body.comment, 'Second picture from the top.');
  assert.equal(body.client.name, 'reportit-extension');
  assert.ok(!('contact' in body), 'anonymous unless the reporter opts in');

  const stored = await h.storage(browser);
  assert.deepEqual(stored.outbox, []);
  assert.equal(stored.history[0].reference, reference);
  assert.ok(!JSON.stringify(stored.history).includes('example.com/some/page'), 'the history keeps no reported URL');
  await popup.close();
  await tab.close();
});

test('context menu on a link: the form opens pre-filled and sends in one click', async () => {
  const form = await menuClick({ menuItemId: 'report-link', linkUrl: 'https://example.org/target', pageUrl: 'https://example.com/list' });
  assert.equal(await form.textContent('#url'), 'https://example.org/target');
  assert.equal(await form.inputValue('#content-type'), 'link');
  assert.equal(await form.textContent('#seen-on'), 'https://example.com/list');
  const before = reportsReached().length;
  await send(form);
  assert.ok(await form.isVisible('#view-done'));
  assert.equal(reportsReached().length, before + 1);
  const body = lastReportBody();
  assert.equal(body.url, 'https://example.org/target');
  assert.equal(body.page_url, 'https://example.com/list');
  assert.equal(body.content_type, 'link');
  await form.close();
});

test('context menu on a data: image: says it is the material and offers the page', async () => {
  const dataUrl = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg==';
  const form = await menuClick({ menuItemId: 'report-image', mediaType: 'image', srcUrl: dataUrl, pageUrl: 'https://example.com/gallery' });
  assert.ok(await form.isVisible('#notice'));
  assert.match(await form.textContent('#notice'), /stored inside the page itself/);
  assert.equal(await form.textContent('#url'), 'https://example.com/gallery');
  assert.equal(await form.inputValue('#content-type'), 'page');
  await h.screenshot(form, 'data-image-en');

  const w = await h.worker(browser);
  const kept = await w.evaluate(async () => JSON.stringify([await chrome.storage.session.get(null), await chrome.storage.local.get(null)]));
  assert.ok(!kept.includes('data:image'), 'the data: URL is not stored anywhere');
  assert.ok(!(await form.content()).includes('data:image'), 'nor shown');

  await send(form);
  assert.ok(await form.isVisible('#view-done'));
  const body = lastReportBody();
  assert.equal(body.url, 'https://example.com/gallery');
  assert.equal(body.content_type, 'page');
  assert.ok(proxy.log.every((e) => !e.body.includes('data:image')), 'no request carried the material');
  await form.close();
});

test('an address a hotline cannot visit is refused before sending', async () => {
  const form = await menuClick({ menuItemId: 'report-link', linkUrl: 'http://192.168.1.20/x', pageUrl: 'https://example.com/list' });
  assert.ok(await form.isVisible('#view-blocked'));
  assert.match(await form.textContent('#blocked-text'), /private network/);
  await form.close();
});

test('a report the server refuses shows why, next to the field', async () => {
  const w = await h.worker(browser);
  await w.evaluate(async () => {
    const { settings } = await chrome.storage.local.get('settings');
    await chrome.storage.local.set({ settings: { ...settings, hotline: 'xx-no-such-hotline' } });
  });
  const form = await menuClick({ menuItemId: 'report-page', pageUrl: 'https://example.com/unknown-hotline' });
  const before = reportsReached().length;
  await send(form);
  assert.equal(reportsReached().at(-1).status, 422);
  assert.equal(reportsReached().length, before + 1);
  assert.ok(await form.isVisible('#country-error'));
  assert.match(await form.textContent('#country-error'), /no longer in the list/);
  assert.deepEqual((await h.storage(browser)).outbox, [], 'a refused report is not retried');
  await w.evaluate(async () => {
    const { settings } = await chrome.storage.local.get('settings');
    await chrome.storage.local.set({ settings: { ...settings, hotline: '' } });
  });
  await form.close();
});

test('a rejected token is replaced by a new one without the reporter noticing', async () => {
  const w = await h.worker(browser);
  const oldToken = await w.evaluate(async () => {
    const { auth } = await chrome.storage.local.get('auth');
    await chrome.storage.local.set({ auth: { ...auth, token: 'not-a-valid-token' } });
    return auth.token;
  });
  const mark = proxy.log.length;
  const form = await menuClick({ menuItemId: 'report-page', pageUrl: 'https://example.com/after-401' });
  await send(form);
  assert.ok(await form.isVisible('#view-done'), 'sent despite the bad token');
  const seq = proxy.log.slice(mark).filter((e) => e.method === 'POST').map((e) => `${e.path} ${e.status}`);
  assert.deepEqual(seq, ['/v1/reports 401', '/v1/installations 201', '/v1/reports 202']);
  const { auth } = await h.storage(browser);
  assert.notEqual(auth.token, 'not-a-valid-token');
  assert.notEqual(auth.token, oldToken);
  await form.close();
});

test('a token close to expiry is renewed before sending', async () => {
  const w = await h.worker(browser);
  await w.evaluate(async () => {
    const { auth } = await chrome.storage.local.get('auth');
    // Pretend the token is in the last minute of a day-long life.
    await chrome.storage.local.set({ auth: { ...auth, issuedAt: Date.now() - 86_340_000, expiresAt: Date.now() + 60_000 } });
  });
  const mark = proxy.log.length;
  const form = await menuClick({ menuItemId: 'report-page', pageUrl: 'https://example.com/renew' });
  await send(form);
  assert.ok(await form.isVisible('#view-done'));
  const seq = proxy.log.slice(mark).filter((e) => e.method === 'POST').map((e) => `${e.path} ${e.status}`);
  assert.deepEqual(seq, ['/v1/token/refresh 200', '/v1/reports 202']);
  await form.close();
});

test('popup and options pass axe-core with no serious violations', async () => {
  const tab = await webPage('https://example.com/a11y');
  const popup = await h.openPopup(browser, tab);
  await popup.waitForSelector(VISIBLE('view-form'));
  await popup.click('#change-destination');
  await popup.check('#contact-wanted');
  assert.deepEqual(await h.axe(popup), [], 'popup form');
  const options = await browser.context.newPage();
  await options.goto(`chrome-extension://${browser.extensionId}/ui/options.html`);
  await options.waitForSelector('body[data-ready="true"]');
  assert.deepEqual(await h.axe(options), [], 'options page');
  await h.screenshot(options, 'options-en', { fullPage: true });
  await Promise.all([popup.close(), options.close(), tab.close()]);
});

test('the options list shows the reports and can be cleared', async () => {
  const options = await browser.context.newPage();
  await options.goto(`chrome-extension://${browser.extensionId}/ui/options.html#reports`);
  await options.waitForSelector('body[data-ready="true"]');
  const rows = await options.locator('#reports-body tr').count();
  assert.ok(rows >= 5, `listed ${rows} reports`);
  await options.click('#clear');
  await options.click('#clear-yes');
  await options.waitForSelector(VISIBLE('reports-empty'));
  assert.deepEqual((await h.storage(browser)).history, []);
  await options.close();
});

test('the form fits its text in every language', async () => {
  const w = await h.worker(browser);
  const { UI_LOCALES: locales } = await import('../../src/lib/locale.js');
  for (const language of locales) {
    await w.evaluate(async (lang) => {
      const { settings } = await chrome.storage.local.get('settings');
      await chrome.storage.local.set({ settings: { ...settings, language: lang, country: 'FR', countryConfirmed: false } });
    }, language);
    const form = await menuClick({ menuItemId: 'report-image', srcUrl: 'https://example.org/i.jpg', pageUrl: 'https://example.com/fits' });
    await form.setViewportSize({ width: 380, height: 600 });
    await form.click('#change-destination');
    await form.check('#contact-wanted');
    const overflow = await form.evaluate(() => {
      const wide = [...document.querySelectorAll('body *')].filter((el) => el.offsetParent !== null && el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === 'visible' && el.tagName !== 'SELECT');
      return { page: document.documentElement.scrollWidth > document.documentElement.clientWidth, elements: wide.map((el) => el.id || el.className || el.tagName) };
    });
    assert.deepEqual(overflow, { page: false, elements: [] }, `nothing overflows in ${language}`);
    assert.equal(await form.evaluate(() => document.documentElement.lang), language.replace('_', '-'));
    await fullScreenshot(form, `form-${language}`);
    await form.close();
  }
  await w.evaluate(async () => {
    const { settings } = await chrome.storage.local.get('settings');
    await chrome.storage.local.set({ settings: { ...settings, language: '', country: 'GB' } });
  });
});

test('in German: popup, receipt and options', async () => {
  const options = await browser.context.newPage();
  await options.goto(`chrome-extension://${browser.extensionId}/ui/options.html`);
  await options.waitForSelector('body[data-ready="true"]');
  await Promise.all([options.waitForEvent('load'), options.selectOption('#language-select', 'de')]);
  await options.waitForSelector('body[data-ready="true"]');
  assert.equal(await options.textContent('h1'), 'Report it: Einstellungen');
  await options.selectOption('#country', 'DE');

  const tab = await webPage('https://example.com/seite');
  const popup = await h.openPopup(browser, tab);
  await popup.waitForSelector(VISIBLE('view-form'));
  assert.equal(await popup.textContent('#send'), 'Meldung senden');
  await h.screenshot(popup, 'popup-de');
  await fullScreenshot(popup, 'popup-de-full');
  await send(popup);
  assert.ok(await popup.isVisible('#view-done'));
  assert.equal(lastReportBody().country, 'DE');
  await h.screenshot(popup, 'receipt-de');

  await options.reload();
  await options.waitForSelector('body[data-ready="true"]');
  await h.screenshot(options, 'options-de', { fullPage: true });
  assert.deepEqual(await h.axe(options), [], 'options page in German');
  await Promise.all([popup.close(), options.close(), tab.close()]);
});
