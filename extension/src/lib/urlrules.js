// URL rules for what can be reported. They mirror the server's checks so the
// reporter hears about a problem before sending, in their own language; the
// server stays the authority and its answer is shown when the two disagree.

/** Longest URL we keep in the outbox; the server has its own limit. */
export const MAX_URL_LENGTH = 8192;

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
 * Checks a URL a reporter wants to report.
 * @returns {{code: string, url?: string}} code URL_OK with the normalised URL, or a rule code.
 */
export function checkReportUrl(raw) {
  if (typeof raw !== 'string' || raw.trim() === '') return { code: URL_MALFORMED };
  // Decide data:/blob: before anything else, so such a string is never parsed or kept.
  if (isContentUrl(raw)) return { code: URL_IS_CONTENT };
  if (raw.length > MAX_URL_LENGTH) return { code: URL_TOO_LONG };
  let u;
  try {
    u = new URL(raw.trim());
  } catch {
    return { code: URL_MALFORMED };
  }
  if (!WEB_SCHEMES.has(u.protocol)) return { code: URL_SCHEME };
  if (!isPublicHost(u.hostname)) return { code: URL_HOST };
  return { code: URL_OK, url: u.href };
}

/**
 * Can a hotline on the internet reach this host? Loopback, private,
 * link-local and single-label names cannot be visited from outside.
 */
export function isPublicHost(hostname) {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  if (host === '') return false;
  if (host.startsWith('[')) return isPublicIPv6(host.slice(1, -1));
  const v4 = parseIPv4(host);
  if (v4) return isPublicIPv4(v4);
  if (host === 'localhost' || host.endsWith('.localhost')) return false;
  if (host.endsWith('.local') || host.endsWith('.internal') || host.endsWith('.home.arpa')) return false;
  return host.includes('.');
}

function parseIPv4(host) {
  // WHATWG URL parsing has already turned shorthand forms into dotted quads.
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : null;
}

function isPublicIPv4([a, b]) {
  if (a === 0 || a === 10 || a === 127) return false; // this network, private, loopback
  if (a === 169 && b === 254) return false; // link-local
  if (a === 172 && b >= 16 && b <= 31) return false;
  if (a === 192 && b === 168) return false;
  if (a === 100 && b >= 64 && b <= 127) return false; // carrier-grade NAT
  if (a >= 224) return false; // multicast and reserved
  return true;
}

function isPublicIPv6(addr) {
  const a = addr.toLowerCase();
  if (a === '::' || a === '::1') return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) {
    const v4 = parseIPv4(mapped[1]);
    return v4 ? isPublicIPv4(v4) : false;
  }
  const mappedHex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(a);
  if (mappedHex) {
    const hi = parseInt(mappedHex[1], 16);
    return isPublicIPv4([hi >> 8, hi & 0xff]);
  }
  const first = parseInt(a.split(':')[0] || '0', 16);
  if ((first & 0xfe00) === 0xfc00) return false; // unique local fc00::/7
  if ((first & 0xffc0) === 0xfe80) return false; // link-local fe80::/10
  if ((first & 0xff00) === 0xff00) return false; // multicast
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
