// The XML namespaces more than one part of the server speaks. A namespace only
// one feature uses stays with that feature.

// RFC 6120: stream features and errors (the streams namespace itself is the
// parser's: xml/stream-parser.ts).
export const NS_CLIENT = 'jabber:client';
export const NS_STREAM_ERRORS = 'urn:ietf:params:xml:ns:xmpp-streams';
export const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
export const NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls';
export const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
export const NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind';
export const NS_SESSION = 'urn:ietf:params:xml:ns:xmpp-session';

// XEPs.
export const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
export const NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';
export const NS_DATA = 'jabber:x:data';
export const NS_RSM = 'http://jabber.org/protocol/rsm';
export const NS_PING = 'urn:xmpp:ping';
export const NS_DELAY = 'urn:xmpp:delay';
export const NS_FORWARD = 'urn:xmpp:forward:0';
export const NS_HINTS = 'urn:xmpp:hints';
export const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
export const NS_MUC = 'http://jabber.org/protocol/muc';
export const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';
