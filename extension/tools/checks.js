// Static checks of the source tree: every UI string is in every locale, every
// import resolves, no remote or dynamic code, and the manifests ask for no
// more than they need. Used by `npm run lint` and by the unit tests.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { manifestFor } from './build.js';
import { UI_LOCALES } from '../src/lib/locale.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SRC = path.join(ROOT, 'src');

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

const read = (p) => fs.readFileSync(p, 'utf8');
const rel = (p) => path.relative(ROOT, p);

export function loadLocales() {
  return Object.fromEntries(UI_LOCALES.map((l) => [l, JSON.parse(read(path.join(SRC, '_locales', l, 'messages.json')))]));
}

/** Message keys the code and pages use. */
export function usedKeys() {
  const keys = new Set();
  for (const file of walk(SRC)) {
    const text = read(file);
    if (file.endsWith('.html')) {
      for (const m of text.matchAll(/data-i18n="([A-Za-z0-9_]+)"/g)) keys.add(m[1]);
      for (const m of text.matchAll(/data-i18n-attr="([^"]+)"/g)) for (const pair of m[1].split(';')) keys.add(pair.split(':')[1].trim());
      for (const m of text.matchAll(/data-title-key="([A-Za-z0-9_]+)"/g)) keys.add(m[1]);
    } else if (file.endsWith('.js')) {
      for (const m of text.matchAll(/\bt\(\s*'([A-Za-z0-9_]+)'/g)) keys.add(m[1]);
      for (const m of text.matchAll(/getMessage\(\s*'([A-Za-z0-9_]+)'/g)) keys.add(m[1]);
      // Keys named in tables: titleKey: 'x', and 'err...'/'history...' values.
      for (const m of text.matchAll(/(?:titleKey|Key):\s*'([A-Za-z0-9_]+)'/g)) keys.add(m[1]);
      for (const m of text.matchAll(/:\s*'((?:err|history|notice)[A-Z][A-Za-z]+)'/g)) keys.add(m[1]);
    } else if (file.endsWith('.json') && file.includes('manifest')) {
      for (const m of text.matchAll(/__MSG_([A-Za-z0-9_]+)__/g)) keys.add(m[1]);
    }
  }
  return keys;
}

/** Every quoted identifier in the scripts: a key named there counts as used. */
function quotedWords() {
  const words = new Set();
  for (const file of walk(SRC).filter((f) => f.endsWith('.js'))) for (const m of read(file).matchAll(/'([A-Za-z][A-Za-z0-9_]*)'/g)) words.add(m[1]);
  return words;
}

export function checkLocales() {
  const problems = [];
  const locales = loadLocales();
  const en = locales.en;
  const tokens = (s) => [...s.matchAll(/\$[A-Za-z0-9_]+\$/g)].map((m) => m[0].toUpperCase()).sort().join(',');
  for (const [l, msgs] of Object.entries(locales)) {
    for (const k of Object.keys(en)) {
      if (!msgs[k]) problems.push(`${l}: missing ${k}`);
      else if (tokens(msgs[k].message) !== tokens(en[k].message)) problems.push(`${l}: placeholders differ in ${k}`);
      else if (!msgs[k].message.trim()) problems.push(`${l}: empty ${k}`);
    }
    for (const k of Object.keys(msgs)) if (!en[k]) problems.push(`${l}: unknown key ${k}`);
    if ((msgs.extDescription?.message || '').length > 132) problems.push(`${l}: extDescription over 132 characters`);
    if ((msgs.extName?.message || '').length > 45) problems.push(`${l}: extName over 45 characters`);
  }
  for (const k of usedKeys()) if (!en[k]) problems.push(`en: used but not defined: ${k}`);
  const used = usedKeys();
  const words = quotedWords();
  for (const k of Object.keys(en)) if (!used.has(k) && !words.has(k)) problems.push(`en: defined but never used: ${k}`);
  return problems;
}

export function checkImports() {
  const problems = [];
  for (const file of walk(SRC).filter((f) => f.endsWith('.js'))) {
    for (const m of read(file).matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'/gm)) {
      const spec = m[1];
      if (!spec.startsWith('.')) {
        problems.push(`${rel(file)}: import of a package or URL: ${spec}`);
        continue;
      }
      const target = path.resolve(path.dirname(file), spec);
      const generated = path.basename(target) === 'build-config.js';
      if (!fs.existsSync(target) && !generated) problems.push(`${rel(file)}: cannot resolve ${spec}`);
    }
  }
  return problems;
}

export function checkNoRemoteCode() {
  const problems = [];
  for (const file of walk(SRC)) {
    const text = read(file);
    if (file.endsWith('.js')) {
      if (/\beval\s*\(|new\s+Function\s*\(|\bimport\s*\(/.test(text)) problems.push(`${rel(file)}: dynamic code`);
      if (/\.innerHTML\s*=|insertAdjacentHTML|document\.write/.test(text)) problems.push(`${rel(file)}: HTML from strings`);
    }
    if (file.endsWith('.html')) {
      if (/<script(?![^>]*\bsrc="[^":]+")/i.test(text)) problems.push(`${rel(file)}: inline or remote script`);
      if (/\s(?:src|href)="(?:https?:)?\/\//i.test(text)) problems.push(`${rel(file)}: remote resource`);
      if (/\son[a-z]+="/i.test(text)) problems.push(`${rel(file)}: inline event handler`);
    }
  }
  return problems;
}

export function checkManifests(serverUrl = 'https://report.example.org') {
  const problems = [];
  for (const browser of ['chrome', 'firefox']) {
    const m = manifestFor(browser, serverUrl, '0.0.0');
    const want = ['contextMenus', 'storage', 'alarms', 'activeTab'];
    if (JSON.stringify(m.permissions) !== JSON.stringify(want)) problems.push(`${browser}: permissions ${JSON.stringify(m.permissions)}`);
    if (JSON.stringify(m.host_permissions) !== JSON.stringify([`${new URL(serverUrl).protocol}//${new URL(serverUrl).hostname}/*`]))
      problems.push(`${browser}: host_permissions ${JSON.stringify(m.host_permissions)}`);
    for (const key of ['content_scripts', 'externally_connectable', 'web_accessible_resources'])
      if (key in m) problems.push(`${browser}: ${key} would expose the extension to web pages`);
    const csp = m.content_security_policy.extension_pages;
    if (/unsafe-eval|unsafe-inline|script-src[^;]*https?:/.test(csp)) problems.push(`${browser}: CSP allows remote or inline code`);
    if (browser === 'chrome' && (!m.background.service_worker || m.background.scripts)) problems.push('chrome: background must be a service worker');
    if (browser === 'firefox') {
      if (!Array.isArray(m.background.scripts) || m.background.service_worker) problems.push('firefox: background must be scripts');
      const g = m.browser_specific_settings?.gecko || {};
      if (!g.id || !g.strict_min_version || !g.data_collection_permissions) problems.push('firefox: gecko id, strict_min_version and data_collection_permissions are required');
    }
  }
  return problems;
}

export function allProblems() {
  return [...checkLocales(), ...checkImports(), ...checkNoRemoteCode(), ...checkManifests()];
}
