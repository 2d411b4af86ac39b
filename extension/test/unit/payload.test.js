import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildReport, codePointLength, MAX_COMMENT_CHARS } from '../../src/lib/payload.js';

const base = {
  url: 'https://example.com/a',
  pageUrl: '',
  contentType: 'page',
  category: 'csam',
  comment: '',
  contactWanted: false,
  contact: '',
  country: 'de',
  hotline: '',
};

test('a minimal report has the required fields and the client', () => {
  assert.deepEqual(buildReport(base, '1.2.3'), {
    ok: true,
    body: {
      url: 'https://example.com/a',
      content_type: 'page',
      category: 'csam',
      country: 'DE',
      client: { name: 'reportit-extension', version: '1.2.3' },
    },
  });
});

test('optional fields are sent only when given', () => {
  const { body } = buildReport(
    { ...base, url: 'https://cdn.example/i.jpg', pageUrl: 'https://example.com/p', contentType: 'image', comment: '  top left  ', contactWanted: true, contact: ' me@example.org ', hotline: 'de-eco' },
    '1.0.0',
  );
  assert.equal(body.page_url, 'https://example.com/p');
  assert.equal(body.comment, 'top left');
  assert.equal(body.contact, 'me@example.org');
  assert.equal(body.hotline, 'de-eco');
});

test('contact is left out unless the reporter ticked the box', () => {
  const { body } = buildReport({ ...base, contactWanted: false, contact: 'me@example.org' }, '1');
  assert.equal('contact' in body, false);
});

test('page_url that is the same, unusable or material is dropped', () => {
  assert.equal('page_url' in buildReport({ ...base, pageUrl: base.url }, '1').body, false);
  assert.equal('page_url' in buildReport({ ...base, pageUrl: 'data:text/html,x' }, '1').body, false);
  assert.equal('page_url' in buildReport({ ...base, pageUrl: 'http://localhost/' }, '1').body, false);
});

test('every problem is reported at once, by field', () => {
  const res = buildReport({ url: 'data:image/png;base64,AA', contentType: 'gif', category: '', country: 'Germany', comment: 'x'.repeat(MAX_COMMENT_CHARS + 1), contactWanted: true, contact: 'nope' }, '1');
  assert.equal(res.ok, false);
  assert.deepEqual(res.errors, [
    { field: 'url', code: 'url-is-content' },
    { field: 'content_type', code: 'invalid-field' },
    { field: 'category', code: 'category-missing' },
    { field: 'country', code: 'country-missing' },
    { field: 'comment', code: 'comment-too-long' },
    { field: 'contact', code: 'contact-invalid' },
  ]);
});

test('the comment limit counts code points, as the server counts runes', () => {
  const emoji = '\u{1F600}'; // two UTF-16 units, one code point
  assert.equal(codePointLength(emoji), 1);
  assert.equal(buildReport({ ...base, comment: emoji.repeat(MAX_COMMENT_CHARS) }, '1').ok, true);
  assert.equal(buildReport({ ...base, comment: emoji.repeat(MAX_COMMENT_CHARS + 1) }, '1').ok, false);
});

test('the same input always builds the same body (safe retries)', () => {
  const form = { ...base, comment: 'c', hotline: 'x' };
  assert.equal(JSON.stringify(buildReport(form, '1').body), JSON.stringify(buildReport({ ...form }, '1').body));
});
