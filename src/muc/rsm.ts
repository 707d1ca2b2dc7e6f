// XEP-0059 Result Set Management over a list of ids in a stable order: what a
// request's `<set/>` asks for, and the page of the list that answers it with
// the `<set/>` that describes the page. Used by the service's disco#items.

import { el, type Element } from '../xml/element.js';
import type { StanzaError } from './stanzas.js';
import { NS_RSM } from '../xmpp/namespaces.js';

export interface PageRequest {
  max?: number;
  after?: string;
  /** The empty string asks for the last page. */
  before?: string;
  index?: number;
}

export interface Page {
  /** The page is ids.slice(start, end). */
  start: number;
  end: number;
  set: Element;
}

/** The `<set/>` of a query: undefined without one, or the error to answer for a malformed one. */
export function readPageRequest(query: Element): PageRequest | StanzaError | undefined {
  const set = query.getChild('set', NS_RSM);
  if (set === undefined) return undefined;
  const max = readCount(set, 'max');
  const index = readCount(set, 'index');
  if (max === null || index === null) {
    return { type: 'modify', condition: 'bad-request', text: 'RSM <max/> and <index/> must be non-negative integers' };
  }
  const after = set.getChildText('after')?.trim();
  return { max, index, after: after || undefined, before: set.getChildText('before')?.trim() };
}

/** The page of `ids` (sorted ascending) a request asks for, or item-not-found for an id not in the list. */
export function pageOf(ids: readonly string[], request: PageRequest): Page | StanzaError {
  const { max, after, before, index } = request;
  let start: number;
  let end: number;
  if (before !== undefined) {
    end = before === '' ? ids.length : positionOf(ids, before);
    if (end < 0) return notFound(before);
    start = max === undefined ? 0 : Math.max(0, end - max);
  } else {
    if (after !== undefined) {
      const position = positionOf(ids, after);
      if (position < 0) return notFound(after);
      start = position + 1;
    } else {
      start = Math.min(index ?? 0, ids.length);
    }
    end = max === undefined ? ids.length : Math.min(ids.length, start + max);
  }
  const set = el('set', { xmlns: NS_RSM });
  if (end > start) set.append(el('first', { index: String(start) }, ids[start]), el('last', {}, ids[end - 1]));
  set.append(el('count', {}, String(ids.length)));
  return { start, end, set };
}

/** A child's non-negative integer; undefined when absent, null when malformed. */
function readCount(set: Element, name: string): number | undefined | null {
  const text = set.getChildText(name)?.trim();
  if (text === undefined) return undefined;
  return /^\d{1,9}$/.test(text) ? Number(text) : null;
}

/** Binary search: the position of `id` in the sorted `ids`, or -1. */
function positionOf(ids: readonly string[], id: string): number {
  let low = 0;
  let high = ids.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (ids[middle] === id) return middle;
    if (ids[middle] < id) low = middle + 1;
    else high = middle - 1;
  }
  return -1;
}

function notFound(id: string): StanzaError {
  return { type: 'cancel', condition: 'item-not-found', text: `No item ${id} in this result set` };
}
