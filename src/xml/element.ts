// The XML element tree every part of Conclave shares: parsed stanzas, stanzas
// built by the room core, and the expected stanzas of scansion scripts.
//
// An element keeps its qualified name and its attributes exactly as written
// (namespace declarations are ordinary attributes), so that serializing it gives
// back what was parsed. Fields are plain data so an element survives a
// structured clone across a worker boundary; `Element.revive` restores methods.

import { escapeAttribute, escapeText } from './escape.js';

export type XmlNode = Element | string;

export class Element {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];

  constructor(name: string, attrs: Record<string, string | undefined> = {}, children: XmlNode[] = []) {
    this.name = name;
    this.attrs = {};
    // for-in rather than Object.entries: no array per attribute (every parsed
    // and every built element comes through here).
    for (const key in attrs) {
      const value = attrs[key];
      if (value !== undefined) this.attrs[key] = value;
    }
    this.children = children;
  }

  /** Gives a structured-cloned element tree its prototype back, in place. */
  static revive(plain: Element): Element {
    Object.setPrototypeOf(plain, Element.prototype);
    for (const child of plain.children) {
      if (typeof child !== 'string') Element.revive(child);
    }
    return plain;
  }

  get xmlns(): string | undefined {
    return this.attrs.xmlns;
  }

  attr(name: string): string | undefined {
    return this.attrs[name];
  }

  /** Sets (or with `undefined`, removes) an attribute; returns the element. */
  setAttr(name: string, value: string | undefined): this {
    if (value === undefined) delete this.attrs[name];
    else this.attrs[name] = value;
    return this;
  }

  is(name: string, xmlns?: string): boolean {
    return this.name === name && (xmlns === undefined || this.attrs.xmlns === xmlns);
  }

  elements(): Element[] {
    const out: Element[] = [];
    for (const child of this.children) if (typeof child !== 'string') out.push(child);
    return out;
  }

  getChild(name: string, xmlns?: string): Element | undefined {
    for (const child of this.children) {
      if (typeof child !== 'string' && child.is(name, xmlns)) return child;
    }
    return undefined;
  }

  getChildren(name: string, xmlns?: string): Element[] {
    return this.elements().filter((child) => child.is(name, xmlns));
  }

  /** The first child element in the given namespace, whatever its name. */
  getChildByNs(xmlns: string): Element | undefined {
    return this.elements().find((child) => child.attrs.xmlns === xmlns);
  }

  /** Concatenated text of the direct text children. */
  text(): string {
    let out = '';
    for (const child of this.children) if (typeof child === 'string') out += child;
    return out;
  }

  getChildText(name: string, xmlns?: string): string | undefined {
    return this.getChild(name, xmlns)?.text();
  }

  /** Appends children (elements or text); returns this element, for chaining. */
  append(...children: (XmlNode | undefined | false)[]): this {
    for (const child of children) if (child !== undefined && child !== false) this.children.push(child);
    return this;
  }

  /** Appends a new child element and returns the child. */
  c(name: string, attrs: Record<string, string | undefined> = {}): Element {
    const child = new Element(name, attrs);
    this.children.push(child);
    return child;
  }

  removeChildren(name: string, xmlns?: string): this {
    this.children = this.children.filter((child) => typeof child === 'string' || !child.is(name, xmlns));
    return this;
  }

  /** A deep copy. */
  clone(): Element {
    const copy = new Element(
      this.name,
      undefined,
      this.children.map((child) => (typeof child === 'string' ? child : child.clone())),
    );
    // A spread of attributes known to be defined: the constructor's filter made a clone 4× slower.
    copy.attrs = { ...this.attrs };
    return copy;
  }

  toString(): string {
    return serialize(this);
  }
}

/** Builds an element: `el('message', { to }, el('body', {}, 'hi'))`. */
export function el(
  name: string,
  attrs: Record<string, string | undefined> = {},
  ...children: (XmlNode | undefined | false)[]
): Element {
  return new Element(name, attrs).append(...children);
}

/** The element as XML; `omit` names an attribute of the element itself to leave out. */
export function serialize(element: Element, omit?: string): string {
  let out = '<' + element.name;
  for (const key in element.attrs) if (key !== omit) out += ' ' + key + "='" + escapeAttribute(element.attrs[key]) + "'";
  if (element.children.length === 0) return out + '/>';
  out += '>';
  for (const child of element.children) out += typeof child === 'string' ? escapeText(child) : serialize(child);
  return out + '</' + element.name + '>';
}
