import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseIPv6,
  checkReportUrl,
  checkServerUrl,
  isContentUrl,
  isPublicHost,
  originPattern,
  MAX_URL_LENGTH,
} from '../../src/lib/urlrules.js';

test('checkReportUrl accepts public http and https addresses', () => {
  for (const [raw, want] of [
    ['https://example.com/a?b=c#d', 'https://example.com/a?b=c#d'],
    ['http://example.org', 'http://example.org/'],
    ['  https://EXAMPLE.com/x  ', 'https://example.com/x'],
    ['https://8.8.8.8/x', 'https://8.8.8.8/x'],
    ['https://[2a00:1450:4001::200e]/x', 'https://[2a00:1450:4001::200e]/x'],
    ['http://router/', 'http://router/'],
    ['https://xn--bcher-kva.example/', 'https://xn--bcher-kva.example/'],
  ]) {
    assert.deepEqual(checkReportUrl(raw), { code: 'ok', url: want }, raw);
  }
});

test('data: and blob: are the material itself, with their own code', () => {
  for (const raw of [
    'data:image/png;base64,iVBORw0KGgo=',
    'DATA:text/html,<p>x',
    '  data:,',
    'blob:https://example.com/2d6f1c34-5a1e-4b8e-9f2a-0c7d8e9f0a1b',
    'Blob:null/abc',
  ]) {
    assert.equal(checkReportUrl(raw).code, 'url-is-content', raw);
    assert.equal(isContentUrl(raw), true, raw);
  }
  // Decided from the scheme alone, even when the rest is too long to parse.
  assert.equal(checkReportUrl(`data:image/png;base64,${'A'.repeat(MAX_URL_LENGTH * 2)}`).code, 'url-is-content');
});

test('other schemes are refused as url-scheme', () => {
  for (const raw of ['javascript:alert(1)', 'file:///etc/passwd', 'ftp://example.com/x', 'chrome://settings', 'about:blank', 'mailto:a@example.com', 'view-source:https://example.com']) {
    assert.equal(checkReportUrl(raw).code, 'url-scheme', raw);
    assert.equal(isContentUrl(raw), false, raw);
  }
});

test('hosts a hotline cannot reach are refused as url-host', () => {
  for (const raw of [
    'http://localhost/x',
    'http://foo.localhost/',
    'http://127.0.0.1:8080/',
    'http://0x7f.1/',
    'http://10.1.2.3/',
    'http://172.16.0.1/',
    'http://172.31.255.255/',
    'http://192.168.1.1/',
    'http://169.254.169.254/latest/meta-data',
    'http://100.64.0.1/',
    'http://0.0.0.0/',
    'http://[::1]/',
    'http://[fd00::1]/',
    'http://[fe80::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://printer.local/',
    'http://db.internal/',
    'http://192.0.2.1/',
    'http://198.51.100.7/',
    'http://203.0.113.9/',
    'http://198.18.0.1/',
    'http://224.0.0.1/',
    'http://[2001:db8::1]/',
    'http://[fec0::1]/',
    'http://[ff02::1]/',
    'http://[64:ff9b::a00:1]/',
    'http://[2002:c0a8:101::]/',
    'http://[::7f00:1]/',
    'http://nas.home.arpa/',
  ]) {
    assert.equal(checkReportUrl(raw).code, 'url-host', raw);
  }
  assert.equal(isPublicHost('172.32.0.1'), true);
  assert.equal(isPublicHost('[64:ff9b::808:808]'), true, 'NAT64 of a public address');
  assert.equal(isPublicHost('[2002:808:808::]'), true, '6to4 of a public address');
  assert.equal(isPublicHost('[::ffff:8.8.8.8]'), true);
  assert.equal(isPublicHost('example.com.'), true);
});

test('unreadable and over-long addresses', () => {
  assert.equal(checkReportUrl('').code, 'url-malformed');
  assert.equal(checkReportUrl('   ').code, 'url-malformed');
  assert.equal(checkReportUrl(undefined).code, 'url-malformed');
  assert.equal(checkReportUrl('not a url').code, 'url-malformed');
  assert.equal(checkReportUrl('https://').code, 'url-malformed');
  assert.equal(checkReportUrl(`https://example.com/${'a'.repeat(MAX_URL_LENGTH)}`).code, 'url-too-long');
});

test('checkServerUrl wants https, or http on this computer only', () => {
  assert.deepEqual(checkServerUrl('https://report.example.org/'), { ok: true, origin: 'https://report.example.org', url: 'https://report.example.org' });
  assert.deepEqual(checkServerUrl('https://example.org/reportit/'), { ok: true, origin: 'https://example.org', url: 'https://example.org/reportit' });
  assert.equal(checkServerUrl('http://127.0.0.1:8080').ok, true);
  assert.equal(checkServerUrl('http://localhost:9000').ok, true);
  for (const bad of ['http://report.example.org', 'ftp://x.org', 'https://u:p@x.org', 'https://x.org/?a=1', 'nonsense', '']) {
    assert.equal(checkServerUrl(bad).ok, false, bad);
  }
});

test('originPattern covers every port of the server host', () => {
  assert.equal(originPattern('http://127.0.0.1:8080'), 'http://127.0.0.1/*');
  assert.equal(originPattern('https://report.example.org/base'), 'https://report.example.org/*');
});

test('parseIPv6 expands every written form', () => {
  assert.deepEqual(parseIPv6('::1'), [...Array(15).fill(0), 1]);
  assert.deepEqual(parseIPv6('2001:db8::'), [0x20, 0x01, 0x0d, 0xb8, ...Array(12).fill(0)]);
  assert.deepEqual(parseIPv6('::ffff:127.0.0.1').slice(10), [0xff, 0xff, 127, 0, 0, 1]);
  assert.equal(parseIPv6('1:2:3:4:5:6:7:8').length, 16);
  for (const bad of ['1::2::3', '1:2:3', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9']) assert.equal(parseIPv6(bad), null, bad);
});
