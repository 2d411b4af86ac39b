// URL rules for what can be reported. They mirror the server's checks so the
// reporter hears about a problem before sending, in their own language; the
// server stays the authority and its answer is shown when the two disagree.

/** Longest URL accepted, as sent and as normalised: the server's limit (bytes; URLs here are ASCII once parsed). */
export const MAX_URL_LENGTH = 4096;

/** Codes match the server's problem types (the last part of the type URI). */
export const URL_OK = 'ok';
export const URL_IS_CONTENT = 'url-is-content';
export const URL_SCHEME = 'url-scheme';
export const URL_HOST = 'url-host';
export const URL_TOO_LONG = 'url-too-long';
export const URL_MALFORMED = 'url-malformed';

// A data: or blob: URL does not point at the material: it IS the material.
const CONTENT_SCHEMES = new Set(['data:', 'blob:']);
const WEB_SCHEMES = new Set(['http:', 'https:']);

/**
 * Is this string a URL whose scheme carries the content itself?
 * Only the scheme is read: the rest of the string is never looked at.
 */
export function isContentUrl(raw) {
  if (typeof raw !== 'string') return false;
  const m = /^\s*([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(raw);
  return m !== null && CONTENT_SCHEMES.has(m[1].toLowerCase() + ':');
}

/**
 * Checks a URL a reporter wants to report, with the server's rules
 * (internal/weburl): the scheme first, then the length, then the host.
 * @returns {{code: string, url?: string}} code URL_OK with the normalised URL, or a rule code.
 */
export function checkReportUrl(raw) {
  if (typeof raw !== 'string' || raw.trim() === '') return { code: URL_MALFORMED };
  // Decide data:/blob: before anything else, so such a string is never parsed or kept.
  if (isContentUrl(raw)) return { code: URL_IS_CONTENT };
  if (raw.trim().length > MAX_URL_LENGTH) return { code: URL_TOO_LONG };
  let u;
  try {
    u = new URL(raw.trim());
  } catch {
    return { code: URL_MALFORMED };
  }
  if (!WEB_SCHEMES.has(u.protocol)) return { code: URL_SCHEME };
  if (u.href.length > MAX_URL_LENGTH) return { code: URL_TOO_LONG };
  if (!isPublicHost(u.hostname)) return { code: URL_HOST };
  return { code: URL_OK, url: u.href };
}

// Names that only mean something on the reporter's own device or network
// (RFC 6761, RFC 6762, RFC 8375, and ".internal").
const LOCAL_SUFFIXES = ['localhost', 'local', 'internal', 'home.arpa'];

/**
 * Can a hotline on the internet reach this host (as the URL parser gives
 * it)? Loopback, private, link-local, reserved and local-only names cannot.
 */
export function isPublicHost(hostname) {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  if (host === '') return false;
  if (host.startsWith('[')) {
    const v6 = parseIPv6(host.slice(1, -1));
    return v6 ? isPublicIPv6(v6) : false;
  }
  const v4 = parseIPv4(host);
  if (v4) return isPublicIPv4(v4);
  return !LOCAL_SUFFIXES.some((sfx) => host === sfx || host.endsWith(`.${sfx}`));
}

function parseIPv4(host) {
  // WHATWG URL parsing has already turned shorthand forms into dotted quads.
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : null;
}

function isPublicIPv4([a, b, c]) {
  if (a === 0 || a === 10 || a === 127) return false; // this network, private, loopback
  if (a === 169 && b === 254) return false; // link-local
  if (a === 172 && b >= 16 && b <= 31) return false;
  if (a === 192 && b === 168) return false;
  if (a === 100 && b >= 64 && b <= 127) return false; // carrier-grade NAT
  if (a === 192 && b === 0 && (c === 0 || c === 2)) return false; // IETF assignments, TEST-NET-1
  if (a === 198 && (b === 18 || b === 19)) return false; // benchmarking
  if (a === 198 && b === 51 && c === 100) return false; // TEST-NET-2
  if (a === 203 && b === 0 && c === 113) return false; // TEST-NET-3
  if (a >= 224) return false; // multicast, reserved, broadcast
  return true;
}

/** Parses an IPv6 address into 16 bytes, or null. */
export function parseIPv6(text) {
  let s = text.toLowerCase();
  let tail = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted) {
    const v4 = parseIPv4(dotted[1]);
    if (!v4) return null;
    tail = v4;
    s = `${s.slice(0, -dotted[1].length)}0:0`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (h) => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - head.length - rest.length;
  if ((halves.length === 1 && missing !== 0) || missing < 0) return null;
  const all = [...head, ...Array(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  if (all.length !== 8 || !all.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  const bytes = all.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]);
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

const zero = (b) => b.every((x) => x === 0);

function isPublicIPv6(b) {
  if (zero(b.slice(0, 15)) && (b[15] === 0 || b[15] === 1)) return false; // :: and ::1
  if (zero(b.slice(0, 12))) return isPublicIPv4(b.slice(12)); // IPv4-compatible
  if (zero(b.slice(0, 10)) && b[10] === 0xff && b[11] === 0xff) return isPublicIPv4(b.slice(12)); // IPv4-mapped
  if (zero(b.slice(0, 8)) && b[8] === 0xff && b[9] === 0xff && b[10] === 0 && b[11] === 0) return isPublicIPv4(b.slice(12)); // IPv4-translated
  if (b[0] === 0 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b) {
    if (zero(b.slice(4, 12))) return isPublicIPv4(b.slice(12)); // NAT64
    if (b[4] === 0 && b[5] === 1) return false; // local-use NAT64
  }
  if (b[0] === 0x20 && b[1] === 0x02) return isPublicIPv4(b.slice(2, 6)); // 6to4
  if ((b[0] & 0xfe) === 0xfc) return false; // unique local fc00::/7
  if (b[0] === 0xfe && (b[1] & 0xc0) === 0x80) return false; // link-local fe80::/10
  if (b[0] === 0xfe && (b[1] & 0xc0) === 0xc0) return false; // site-local fec0::/10
  if (b[0] === 0xff) return false; // multicast
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0x0d && b[3] === 0xb8) return false; // documentation
  if (b[0] === 0x3f && b[1] === 0xff && (b[2] & 0xf0) === 0) return false; // documentation 3fff::/20
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0 && b[3] === 0x02 && b[4] === 0 && b[5] === 0) return false; // benchmarking
  if (b[0] === 0x01 && zero(b.slice(1, 8))) return false; // discard-only 100::/64
  return true;
}

/**
 * Checks the address of a reportit server. HTTPS is required, except plain
 * HTTP on this computer (for development and tests).
 * @returns {{ok: true, origin: string, url: string} | {ok: false}}
 */
export function checkServerUrl(raw) {
  let u;
  try {
    u = new URL(String(raw).trim());
  } catch {
    return { ok: false };
  }
  if (u.username || u.password || u.search || u.hash) return { ok: false };
  const loopback = u.hostname === 'localhost' || u.hostname === '127.0.0.1' || u.hostname === '[::1]';
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) return { ok: false };
  const path = u.pathname.replace(/\/+$/, '');
  return { ok: true, origin: u.origin, url: u.origin + path };
}

/** The host permission pattern for a server URL (any port, as browsers allow). */
export function originPattern(serverUrl) {
  const u = new URL(serverUrl);
  return `${u.protocol}//${u.hostname}/*`;
}
