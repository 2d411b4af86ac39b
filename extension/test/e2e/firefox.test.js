// Firefox smoke test: the Firefox package installs in Debian's firefox-esr
// (WebDriver BiDi through puppeteer-core), its background event page starts,
// and on first install the options page opens and talks to the background,
// which fetches the hotline list from the server with its host permission.
//
// Firefox's remote agent does not let a test drive moz-extension:// pages
// (navigation there is refused and such tabs are not reported), so the popup
// report itself is covered in Chromium only; see report.test.js.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import * as h from './harness.js';

const FIREFOX = process.env.FIREFOX_PATH || '/usr/bin/firefox-esr';
const skip = fs.existsSync(FIREFOX) ? false : `no Firefox at ${FIREFOX}`;

let server;
let proxy;
let browser;

before(async () => {
  if (skip) return;
  server = await h.createServer();
  await server.start();
  proxy = await h.createProxy(server.port);
});

after(async () => {
  await browser?.close();
  await proxy?.close();
  await server?.stop();
});

test('the Firefox package installs, starts and reaches the server', { skip }, async () => {
  const { default: puppeteer } = await import('puppeteer-core');
  const { build } = await import('../../tools/build.js');
  const { dir } = build({ browser: 'firefox', serverUrl: proxy.url, outDir: h.tmpDir('ffext'), zip: false });
  browser = await puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX, headless: true });
  assert.match(await browser.version(), /firefox/i);
  const id = await browser.installExtension(dir);
  assert.equal(id, JSON.parse(fs.readFileSync(`${dir}/manifest.json`, 'utf8')).browser_specific_settings.gecko.id);
  await h.waitFor(() => proxy.reached('GET', '/v1/hotlines').some((e) => e.status === 200), {
    timeoutMs: 20_000,
    what: 'the Firefox background to fetch the hotline list for the options page',
  });
});
