// The one runtime.onMessage listener. It answers only messages from this
// extension's own pages whose name is on the fixed list, and answers
// asynchronously (returning true keeps sendResponse open).

import { ext } from '../common/ext.js';
import { isOwnPage } from '../lib/sender.js';
import { MESSAGE_NAMES } from '../lib/messages.js';
import { HANDLERS } from './handlers.js';

export function dispatch(message, sender, sendResponse) {
  if (!isOwnPage(sender, ext.runtime)) return false;
  const type = message && message.type;
  if (typeof type !== 'string' || !MESSAGE_NAMES.has(type)) return false;
  HANDLERS[type](message.payload || {}).then(
    (result) => sendResponse({ ok: true, result }),
    (err) => {
      console.error(`reportit: ${type} failed`, err);
      sendResponse({ ok: false, error: 'internal' });
    },
  );
  return true;
}
