// Who may talk to the background: only this extension's own pages.
// There are no content scripts and no externally_connectable key, so a web
// page cannot reach runtime.onMessage at all; this check is the second lock.

/**
 * @param {object} sender runtime.MessageSender
 * @param {{id: string, getURL: (p: string) => string}} runtime
 */
export function isOwnPage(sender, runtime) {
  if (!sender || sender.id !== runtime.id) return false;
  const base = runtime.getURL('');
  if (typeof sender.url !== 'string' || !sender.url.startsWith(base)) return false;
  // Chrome also gives the origin; when it is there it must be ours.
  if (sender.origin !== undefined && sender.origin !== base.replace(/\/$/, '')) return false;
  return true;
}
