// Builds the extension for Chromium browsers and Firefox from one source tree:
//   node tools/build.js [--browser chrome|firefox|all] [--server URL] [--out DIR] [--no-zip]
// The server address defaults to $REPORTIT_SERVER_URL, else http://127.0.0.1:8080.
// Output: DIR/chrome/, DIR/firefox/ and DIR/reportit-<browser>-<version>.zip.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { drawIcon, ICON_SIZES } from './icons.js';
import { zip } from './png.js';
import { checkServerUrl, originPattern } from '../src/lib/urlrules.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SRC = path.join(ROOT, 'src');
export const BROWSERS = ['chrome', 'firefox'];
export const DEFAULT_SERVER_URL = 'http://127.0.0.1:8080';

// Files that are inputs to the build, not part of the package.
const SKIP = new Set(['manifest', 'build-config.js']);

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Overlay wins; objects merge key by key, arrays and values are replaced. */
export function mergeManifest(base, overlay) {
  const out = { ...base };
  for (const [k, v] of Object.entries(overlay)) out[k] = isPlainObject(v) && isPlainObject(base[k]) ? mergeManifest(base[k], v) : v;
  return out;
}

function readJson(p) {
  return JSON.parse(fs.readFileSync(p, 'utf8'));
}

function listFiles(dir, rel = '') {
  const out = [];
  for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const r = rel ? `${rel}/${entry.name}` : entry.name;
    if (!rel && SKIP.has(entry.name)) continue;
    if (entry.isDirectory()) out.push(...listFiles(dir, r));
    else out.push(r);
  }
  return out;
}

export function manifestFor(browser, serverUrl, version) {
  const manifest = mergeManifest(readJson(path.join(SRC, 'manifest/base.json')), readJson(path.join(SRC, `manifest/${browser}.json`)));
  manifest.version = version;
  manifest.host_permissions = [originPattern(serverUrl)];
  if (browser === 'firefox' && process.env.REPORTIT_GECKO_ID) manifest.browser_specific_settings.gecko.id = process.env.REPORTIT_GECKO_ID;
  return manifest;
}

/**
 * @param {{browser: string, serverUrl?: string, outDir?: string, zip?: boolean}} opts
 * @returns {{dir: string, zipPath: string|null, manifest: object}}
 */
export function build({ browser, serverUrl = process.env.REPORTIT_SERVER_URL || DEFAULT_SERVER_URL, outDir = path.join(ROOT, 'dist'), zip: makeZip = true }) {
  if (!BROWSERS.includes(browser)) throw new Error(`unknown browser ${browser}`);
  const server = checkServerUrl(serverUrl);
  if (!server.ok) throw new Error(`REPORTIT_SERVER_URL must be https:// (or http:// on 127.0.0.1/localhost): ${serverUrl}`);
  const { version } = readJson(path.join(ROOT, 'package.json'));
  const dir = path.join(outDir, browser);
  fs.rmSync(dir, { recursive: true, force: true });
  const files = [];
  const put = (name, data) => {
    const p = path.join(dir, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, data);
    files.push({ name, data: Buffer.from(data) });
  };
  for (const rel of listFiles(SRC)) put(rel, fs.readFileSync(path.join(SRC, rel)));
  put('build-config.js', `// Written by tools/build.js.\nexport const BUILD = Object.freeze(${JSON.stringify({ serverUrl: server.url, browser })});\n`);
  for (const size of ICON_SIZES) put(`icons/icon-${size}.png`, drawIcon(size));
  const manifest = manifestFor(browser, server.url, version);
  put('manifest.json', `${JSON.stringify(manifest, null, 2)}\n`);
  let zipPath = null;
  if (makeZip) {
    zipPath = path.join(outDir, `reportit-${browser}-${version}.zip`);
    files.sort((a, b) => a.name.localeCompare(b.name));
    fs.writeFileSync(zipPath, zip(files));
  }
  return { dir, zipPath, manifest };
}

function parseArgs(argv) {
  const opts = { browsers: BROWSERS, zip: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--browser') opts.browsers = argv[++i] === 'all' ? BROWSERS : [argv[i]];
    else if (a === '--server') opts.serverUrl = argv[++i];
    else if (a === '--out') opts.outDir = path.resolve(argv[++i]);
    else if (a === '--no-zip') opts.zip = false;
    else throw new Error(`unknown argument ${a}`);
  }
  return opts;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const opts = parseArgs(process.argv.slice(2));
  for (const browser of opts.browsers) {
    const res = build({ browser, serverUrl: opts.serverUrl, outDir: opts.outDir, zip: opts.zip });
    console.log(`${browser}: ${path.relative(process.cwd(), res.dir)}${res.zipPath ? `, ${path.relative(process.cwd(), res.zipPath)}` : ''} (server ${res.manifest.host_permissions[0]})`);
  }
}
