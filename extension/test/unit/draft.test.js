import { test } from 'node:test';
import assert from 'node:assert/strict';
import { draftFromMenuClick, draftFromTab, NOTICE_EMBEDDED, NOTICE_PAGE_IS_CONTENT } from '../../src/lib/draft.js';

const page = 'https://example.com/gallery';

test('menu clicks become drafts for the clicked thing', () => {
  const cases = [
    [{ menuItemId: 'report-page', pageUrl: page }, { url: page, pageUrl: '', contentType: 'page', notice: '' }],
    [{ menuItemId: 'report-link', linkUrl: 'https://example.org/t', pageUrl: page }, { url: 'https://example.org/t', pageUrl: page, contentType: 'link', notice: '' }],
    [{ menuItemId: 'report-image', srcUrl: 'https://cdn.example/i.jpg', pageUrl: page }, { url: 'https://cdn.example/i.jpg', pageUrl: page, contentType: 'image', notice: '' }],
    [{ menuItemId: 'report-video', srcUrl: 'https://cdn.example/v.mp4', pageUrl: page }, { url: 'https://cdn.example/v.mp4', pageUrl: page, contentType: 'video', notice: '' }],
  ];
  for (const [info, want] of cases) assert.deepEqual(draftFromMenuClick(info), want, info.menuItemId);
});

test('a data: or blob: source offers the page instead and keeps nothing of it', () => {
  for (const [id, key, src] of [
    ['report-image', 'srcUrl', 'data:image/png;base64,AAAA'],
    ['report-video', 'srcUrl', 'blob:https://example.com/1234'],
    ['report-link', 'linkUrl', 'data:text/html,<img>'],
  ]) {
    const d = draftFromMenuClick({ menuItemId: id, [key]: src, pageUrl: page });
    assert.equal(d.url, page);
    assert.equal(d.contentType, 'page');
    assert.equal(d.notice, NOTICE_EMBEDDED);
    assert.ok(!JSON.stringify(d).includes(src.slice(0, 5)), 'the source must not be in the draft');
  }
});

test('a tab whose own address is data: has nothing to report', () => {
  const d = draftFromMenuClick({ menuItemId: 'report-image', srcUrl: 'https://x.example/i.png', pageUrl: 'data:text/html,abc' });
  assert.equal(d.notice, NOTICE_PAGE_IS_CONTENT);
  assert.equal(d.url, '');
  assert.equal(draftFromTab({ url: 'blob:https://example.com/1' }).notice, NOTICE_PAGE_IS_CONTENT);
  assert.deepEqual(draftFromTab({ url: page }), { url: page, pageUrl: '', contentType: 'page', notice: '' });
  assert.equal(draftFromTab(undefined).url, '');
});

test('page url falls back to the tab, unknown menu items give nothing', () => {
  assert.equal(draftFromMenuClick({ menuItemId: 'report-page' }, { url: page }).url, page);
  assert.equal(draftFromMenuClick({ menuItemId: 'something-else' }), null);
});
