import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addItem, applyStatus, itemFromAccepted, itemNotSent, MAX_HISTORY, pendingItems } from '../../src/lib/history.js';

const accepted = {
  id: 'id1',
  reference: 'RI-1',
  receipt: 'rc',
  status: 'accepted',
  hotline: { id: 'at-stopline', name: 'Stopline', country: 'AT', report_url: 'https://www.stopline.at' },
  duplicate: false,
  received_at: '2025-05-01T10:00:00Z',
};

test('a history item keeps reference, time, status and hotline, never the URL', () => {
  const item = itemFromAccepted('k1', accepted, 'image', 0);
  assert.equal(item.reference, 'RI-1');
  assert.equal(item.status, 'accepted');
  assert.equal(item.receivedAt, Date.parse('2025-05-01T10:00:00Z'));
  assert.equal(item.hotline.reportUrl, 'https://www.stopline.at');
  assert.ok(!('url' in item) && !('page_url' in item));
});

test('addItem puts the newest first, replaces by key and caps the list', () => {
  let list = [];
  for (let i = 0; i < MAX_HISTORY + 5; i++) list = addItem(list, itemFromAccepted(`k${i}`, accepted, 'page', i));
  assert.equal(list.length, MAX_HISTORY);
  assert.equal(list[0].key, `k${MAX_HISTORY + 4}`);
  list = addItem(list, { ...list[3], status: 'delivered' });
  assert.equal(list.length, MAX_HISTORY);
  assert.equal(list[0].status, 'delivered');
});

test('applyStatus updates one item; final ones are not asked about again', () => {
  const list = [itemFromAccepted('a', accepted, 'page', 0), itemFromAccepted('b', accepted, 'page', 0), itemNotSent('c', 'page', 'url-host', 0)];
  assert.deepEqual(pendingItems(list).map((i) => i.key), ['a', 'b']);
  const next = applyStatus(list, 'a', { status: 'delivered', delivered_at: '2025-05-01T11:00:00Z' });
  assert.equal(next[0].status, 'delivered');
  assert.equal(next[0].deliveredAt, Date.parse('2025-05-01T11:00:00Z'));
  assert.equal(next[1].status, 'accepted');
  assert.deepEqual(pendingItems(next).map((i) => i.key), ['b']);
});
