// XEP-0004 data forms: rendering a form from a list of fields, and reading a
// submitted form back against the same list, the way Prosody's util.dataforms
// does (a field's type decides how its values are read and checked).

import { el, type Element } from '../xml/element.js';
import { prepJid } from '../jid/jid.js';
import { NS_DATA } from './stanzas.js';

export type FieldType =
  | 'boolean'
  | 'fixed'
  | 'hidden'
  | 'jid-multi'
  | 'jid-single'
  | 'list-multi'
  | 'list-single'
  | 'text-multi'
  | 'text-private'
  | 'text-single';

export type FieldValue = string | string[] | boolean;

export interface FormOption {
  value: string;
  label?: string;
}

export interface FormField {
  /** The field's `var`; fixed fields have none. */
  var?: string;
  type: FieldType;
  label?: string;
  desc?: string;
  required?: boolean;
  /** XEP-0122 datatype, e.g. `xs:integer`. */
  datatype?: string;
  /** XEP-0122 `<open/>`: a list-single that also takes values not among its options. */
  open?: boolean;
  /** XEP-0122 `<range/>` of a numeric value; a number outside it is a form error. */
  range?: { min: number; max: number };
  value?: FieldValue;
  options?: (string | FormOption)[];
}

export interface Form {
  title?: string;
  instructions?: string;
  fields: FormField[];
}

/** Renders a form of type `form` (to fill in) or `result` (to read). */
export function renderForm(form: Form, type: 'form' | 'result' = 'form'): Element {
  const x = el('x', { xmlns: NS_DATA, type });
  if (form.title !== undefined) x.c('title').append(form.title);
  if (form.instructions !== undefined) x.c('instructions').append(form.instructions);
  for (const field of form.fields) {
    const fieldEl = x.c('field', { type: field.type, var: field.var, label: field.label });
    if (field.desc !== undefined) fieldEl.c('desc').append(field.desc);
    if (type === 'form' && (field.datatype !== undefined || field.open || field.range)) {
      const validate = fieldEl.c('validate', { xmlns: 'http://jabber.org/protocol/xdata-validate', datatype: field.datatype });
      if (field.open) validate.c('open');
      if (field.range) validate.c('range', { min: String(field.range.min), max: String(field.range.max) });
    }
    if (type === 'form') {
      for (const option of field.options ?? []) {
        const { value, label } = typeof option === 'string' ? { value: option, label: option } : option;
        fieldEl.c('option', { label }).c('value').append(value);
      }
    }
    for (const value of renderedValues(field)) fieldEl.c('value').append(value);
    if (type === 'form' && field.required) fieldEl.c('required');
  }
  return x;
}

function renderedValues(field: FormField): string[] {
  const { value } = field;
  if (value === undefined) return [];
  if (typeof value === 'boolean') return [value ? '1' : '0'];
  if (Array.isArray(value)) return value;
  if (field.type === 'text-multi') return value.split(/\r?\n/).filter((line) => line !== '');
  return [value];
}

/** The FORM_TYPE of a submitted form: its value, '' when the form has none. */
export function formType(x: Element): string {
  const field = x.getChildren('field').find((f) => f.attrs.var === 'FORM_TYPE');
  return field === undefined ? '' : (field.getChildText('value') ?? '');
}

export interface SubmittedForm {
  /**
   * Values of the fields the form carried, read as their layout type says. A
   * field carried without a value has its type's empty value (as Prosody reads
   * it: submitting an empty password field clears the password).
   */
  values: Map<string, FieldValue>;
  /** Field var → what is wrong with its value. */
  errors: Map<string, string>;
}

/** Reads a submitted `<x/>` against the layout it answers; fields not in the layout are ignored. */
export function readForm(layout: readonly FormField[], x: Element): SubmittedForm {
  const values = new Map<string, FieldValue>();
  const errors = new Map<string, string>();
  const submitted = x.getChildren('field');
  for (const field of layout) {
    if (field.var === undefined) continue;
    const tag = submitted.find((candidate) => candidate.attrs.var === field.var);
    if (tag === undefined) {
      if (field.required) errors.set(field.var, 'Required value missing');
      continue;
    }
    const result = readField(field, tag.getChildren('value').map((v) => v.text()));
    if ('error' in result) errors.set(field.var, result.error);
    else values.set(field.var, result.value);
  }
  return { values, errors };
}

type FieldResult = { value: FieldValue } | { error: string };

function readField(field: FormField, raw: string[]): FieldResult {
  const first = raw[0];
  const missing = first === undefined || first === '';
  if (field.required && (raw.length === 0 || (missing && !isMulti(field.type)))) {
    return { error: 'Required value missing' };
  }
  switch (field.type) {
    case 'boolean': {
      if (first === undefined || first === '1' || first === 'true') return { value: first !== undefined };
      if (first === '0' || first === 'false') return { value: false };
      return { error: 'Invalid boolean representation: ' + first };
    }
    case 'list-multi': {
      const unknown = field.options === undefined ? [] : raw.filter((value) => !optionValues(field).includes(value));
      if (unknown.length > 0) return { error: 'Values not among the options: ' + unknown.join(', ') };
      return { value: raw };
    }
    case 'text-multi':
      return { value: raw.join('\n') };
    case 'jid-multi': {
      const jids = raw.map((value) => prepJid(value));
      const bad = raw.filter((_, i) => jids[i] === null);
      if (bad.length > 0) return { error: 'Invalid JID: ' + bad.join(', ') };
      return { value: jids as string[] };
    }
    default: {
      if (missing) return { value: '' };
      if (field.type === 'jid-single') {
        const jid = prepJid(first);
        return jid === null ? { error: 'Invalid JID: ' + first } : { value: jid };
      }
      const integer = /^[+-]?\d+$/.test(first.trim());
      if (field.datatype === 'xs:integer' && !integer) {
        return { error: 'Invalid value for data of type xs:integer' };
      }
      if (field.range && integer && !(Number(first) >= field.range.min && Number(first) <= field.range.max)) {
        return { error: `Value out of range: ${first.trim()} is not between ${field.range.min} and ${field.range.max}` };
      }
      if (field.type === 'list-single' && field.options !== undefined && !field.open && !optionValues(field).includes(first)) {
        return { error: 'Value not among the options: ' + first };
      }
      return { value: first };
    }
  }
}

function isMulti(type: FieldType): boolean {
  return type === 'list-multi' || type === 'jid-multi' || type === 'text-multi';
}

function optionValues(field: FormField): string[] {
  return (field.options ?? []).map((option) => (typeof option === 'string' ? option : option.value));
}
