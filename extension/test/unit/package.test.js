import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkImports, checkLocales, checkManifests, checkNoRemoteCode } from '../../tools/checks.js';
import { build, mergeManifest } from '../../tools/build.js';

test('every UI string exists in every locale with the same placeholders', () => {
  assert.deepEqual(checkLocales(), []);
});

test('every import resolves to a file in the package', () => {
  assert.deepEqual(checkImports(), []);
});

test('no remote, inline or dynamic code', () => {
  assert.deepEqual(checkNoRemoteCode(), []);
});

test('manifests ask for the fewest permissions and expose nothing to web pages', () => {
  assert.deepEqual(checkManifests(), []);
});

test('mergeManifest: overlay objects merge, arrays replace', () => {
  assert.deepEqual(mergeManifest({ a: { b: 1, c: [1] }, d: 1 }, { a: { c: [2] }, e: 2 }), { a: { b: 1, c: [2] }, d: 1, e: 2 });
});

test('build writes both packages with the server address and a zip each', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'reportit-build-'));
  for (const browser of ['chrome', 'firefox']) {
    const res = build({ browser, serverUrl: 'https://report.example.org/', outDir: out });
    const manifest = JSON.parse(fs.readFileSync(path.join(res.dir, 'manifest.json'), 'utf8'));
    assert.deepEqual(manifest.host_permissions, ['https://report.example.org/*']);
    assert.match(fs.readFileSync(path.join(res.dir, 'build-config.js'), 'utf8'), /"serverUrl":"https:\/\/report\.example\.org"/);
    assert.ok(fs.existsSync(path.join(res.dir, 'icons/icon-128.png')));
    assert.ok(fs.statSync(res.zipPath).size > 10_000);
    assert.equal(fs.readFileSync(res.zipPath).readUInt32LE(0), 0x04034b50, 'a zip file');
  }
  assert.throws(() => build({ browser: 'chrome', serverUrl: 'http://report.example.org', outDir: out }), /https/);
});
