// The WebExtension namespace: Firefox's `browser`, else Chrome's `chrome`.
// Both return promises in Manifest V3.
export const ext = globalThis.browser ?? globalThis.chrome;

/** Runs fn while holding a named lock shared by all extension contexts. */
export async function withLock(name, fn) {
  if (globalThis.navigator?.locks?.request) return navigator.locks.request(name, fn);
  return fn();
}
