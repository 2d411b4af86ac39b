import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isOwnPage } from '../../src/lib/sender.js';
import { MESSAGE_NAMES, MSG } from '../../src/lib/messages.js';

const runtime = { id: 'abc', getURL: (p) => `chrome-extension://abc/${p}` };

test('only our own pages may send messages', () => {
  assert.equal(isOwnPage({ id: 'abc', url: 'chrome-extension://abc/ui/popup.html', origin: 'chrome-extension://abc' }, runtime), true);
  assert.equal(isOwnPage({ id: 'abc', url: 'chrome-extension://abc/ui/options.html' }, runtime), true, 'Firefox gives no origin');
  assert.equal(isOwnPage({ id: 'abc', url: 'https://example.com/', origin: 'https://example.com', tab: { id: 1 } }, runtime), false, 'a content script');
  assert.equal(isOwnPage({ id: 'other', url: 'chrome-extension://other/x.html' }, runtime), false);
  assert.equal(isOwnPage({ id: 'abc', url: 'chrome-extension://abc/ui/popup.html', origin: 'https://evil.example' }, runtime), false);
  assert.equal(isOwnPage({ id: 'abc' }, runtime), false);
  assert.equal(isOwnPage(undefined, runtime), false);
});

test('the message list is fixed and unique', () => {
  assert.equal(MESSAGE_NAMES.size, Object.keys(MSG).length);
  assert.ok(Object.isFrozen(MSG));
});
