// The reporter's own list of reports, kept only in this browser. It holds
// the reference, time, status and hotline: never the reported URL, so the
// list shows nothing of the material to someone else using the computer.

export const MAX_HISTORY = 200;
export const FINAL_STATUSES = Object.freeze(['delivered', 'use_hotline_form', 'not_sent']);

/** A history item from a 202 answer. */
export function itemFromAccepted(key, data, contentType, now) {
  const hotline = data.hotline || {};
  return {
    key,
    reference: String(data.reference),
    receipt: String(data.receipt),
    status: data.status === 'accepted' || !data.status ? 'accepted' : String(data.status),
    receivedAt: data.received_at ? Date.parse(data.received_at) || now : now,
    deliveredAt: null,
    contentType,
    duplicate: !!data.duplicate,
    hotline: {
      id: String(hotline.id || ''),
      name: String(hotline.name || ''),
      country: String(hotline.country || ''),
      reportUrl: String(hotline.report_url || ''),
    },
  };
}

/** A history item for a queued report the server refused on a later retry. */
export function itemNotSent(key, contentType, problemCode, now) {
  return {
    key,
    reference: '',
    receipt: '',
    status: 'not_sent',
    reason: problemCode || '',
    receivedAt: now,
    deliveredAt: null,
    contentType,
    duplicate: false,
    hotline: { id: '', name: '', country: '', reportUrl: '' },
  };
}

/** Adds an item (newest first), replacing one with the same key. */
export function addItem(list, item) {
  const rest = list.filter((i) => i.key !== item.key);
  return [item, ...rest].slice(0, MAX_HISTORY);
}

/** Applies a GET /v1/reports/{reference} answer to the matching item. */
export function applyStatus(list, key, data) {
  return list.map((i) => {
    if (i.key !== key) return i;
    const hotline = data.hotline
      ? {
          id: String(data.hotline.id || i.hotline.id),
          name: String(data.hotline.name || i.hotline.name),
          country: String(data.hotline.country || i.hotline.country),
          reportUrl: String(data.hotline.report_url || i.hotline.reportUrl),
        }
      : i.hotline;
    return {
      ...i,
      status: String(data.status || i.status),
      deliveredAt: data.delivered_at ? Date.parse(data.delivered_at) || null : i.deliveredAt,
      hotline,
    };
  });
}

/** Items whose status may still change and that can be asked about. */
export function pendingItems(list) {
  return list.filter((i) => i.reference && i.receipt && !FINAL_STATUSES.includes(i.status));
}
