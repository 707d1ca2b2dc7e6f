// Reading submitted data forms: a field carried without a <value/> is read as
// its type's empty value (as Prosody's util.dataforms reads it), a field left
// out is not read at all, and required fields still need a value.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readForm, type FormField } from '../../src/muc/dataform.js';
import { parseElement } from '../../src/xml/stream-parser.js';

const LAYOUT: FormField[] = [
  { var: 'text', type: 'text-single' },
  { var: 'secret', type: 'text-private' },
  { var: 'lines', type: 'text-multi' },
  { var: 'flag', type: 'boolean' },
  { var: 'choice', type: 'list-single', options: ['a', 'b'] },
  { var: 'choices', type: 'list-multi', options: ['a', 'b'] },
  { var: 'jid', type: 'jid-single' },
  { var: 'jids', type: 'jid-multi' },
  { var: 'hidden', type: 'hidden' },
  { var: 'number', type: 'text-single', datatype: 'xs:integer' },
];

function submit(fields: string): ReturnType<typeof readForm> {
  return readForm(LAYOUT, parseElement(`<x xmlns='jabber:x:data' type='submit'>${fields}</x>`));
}

describe('dataform reading of empty fields', () => {
  it('reads every field type sent without a value as its empty value', () => {
    const form = submit(LAYOUT.map((field) => `<field var='${field.var}'/>`).join(''));
    assert.deepEqual(form.errors, new Map());
    assert.deepEqual(
      Object.fromEntries(form.values),
      { text: '', secret: '', lines: '', flag: false, choice: '', choices: [], jid: '', jids: [], hidden: '', number: '' },
    );
  });

  it('reads an empty <value/> as empty text, and refuses it where the type has no such value', () => {
    const form = submit(LAYOUT.map((field) => `<field var='${field.var}'><value/></field>`).join(''));
    assert.deepEqual([...form.errors.keys()].sort(), ['choices', 'flag', 'jids']);
    assert.equal(form.values.get('secret'), '');
    assert.equal(form.values.get('lines'), '');
    assert.equal(form.values.get('jid'), '');
    assert.equal(form.values.get('number'), '');
  });

  it('leaves out fields the form does not carry', () => {
    const form = submit(`<field var='secret'/>`);
    assert.deepEqual([...form.values.keys()], ['secret']);
  });

  it('still reads the values that are there', () => {
    const form = submit(
      `<field var='secret'><value>balcony</value></field><field var='flag'><value>true</value></field>` +
        `<field var='lines'><value>one</value><value>two</value></field><field var='jid'><value>Romeo@Localhost</value></field>`,
    );
    assert.deepEqual(Object.fromEntries(form.values), { secret: 'balcony', flag: true, lines: 'one\ntwo', jid: 'romeo@localhost' });
  });

  it('refuses a required field sent empty, of any type', () => {
    for (const field of LAYOUT) {
      const layout = [{ ...field, required: true }];
      const x = parseElement(`<x xmlns='jabber:x:data' type='submit'><field var='${field.var}'/></x>`);
      assert.equal(readForm(layout, x).errors.get(field.var as string), 'Required value missing', field.type);
    }
  });
});
