/*! @license node-sip (sip.js 0.0.6, patched for confbox) Copyright (c) 2010 Kirill Mikhailov. MIT licence: see firmware/sip/vendor/LICENSE. */
/*
 * Patched copy of sip.js from the npm package `sip` 0.0.6 (node-sip, https://github.com/kirm/sip.js),
 * Copyright (c) 2010 Kirill Mikhailov, MIT licence: see LICENSE beside this file.
 *
 * Changes made for confbox:
 * - ES modules (this index; message.js, transport.js, transactions.js) with only what the box uses: the message
 *   parser and stringifier, URI helpers, makeResponse, the UDP, TCP and TLS transports and the transaction layer.
 *   WebSocket transport, DNS resolution and the package's create()/start() are left out (and with them `ws`).
 * - The transports do not create sockets: they are handed the box's own bound UDP socket, TCP server and TLS
 *   server. UDP datagrams reach the transport through receive(), called by the box once it has admitted them.
 *   Each new stream (accepted or connected) is shown to onStream() before the transport reads it.
 * - What goes into the Via of a request (host and port) comes from via(target, protocol), so that the box can
 *   name its IPv4 address to IPv4 peers and its IPv6 address to IPv6 peers, and the TLS port over TLS.
 * - IPv6: bracketed hosts ([2001:db8::1]) are parsed in URIs and Via headers, Via parameters take IPv6
 *   addresses (received=2001:db8::1), and a host that is an IPv6 address is written in brackets in URIs and Via.
 *   Peers reached over a dual-stack socket appear with their plain IPv4 address, not as ::ffff:a.b.c.d.
 * - Idle stream connections are the box's to close (onStream); the transport no longer sets its own timeout.
 * - Display names in From, To, Contact and the like may be unquoted UTF-8, as some phones send them.
 * - The header parsers match where they stand (sticky regular expressions) instead of searching the rest of the
 *   value for a match they then discard, which made a long header cost quadratic time.
 * - A Route, Record-Route or Path entry whose URI cannot be parsed leaves its header out, as any header the parsers
 *   cannot read, instead of an entry without a URI that stringify() cannot write.
 */
import { hostText, makeResponse, parse, parseAOR, parseUri, plainAddress, stringify, stringifyAuthHeader, stringifyUri } from './message.js';
import { generateBranch, makeTransactionLayer } from './transactions.js';
import { makeTransport } from './transport.js';

export { generateBranch, hostText, makeResponse, makeTransactionLayer, makeTransport, parse, parseAOR, parseUri, plainAddress, stringify, stringifyAuthHeader, stringifyUri };

export default {
  makeTransport: makeTransport,
  makeTransactionLayer: makeTransactionLayer,
  makeResponse: makeResponse,
  parse: parse,
  stringify: stringify,
  parseUri: parseUri,
  stringifyUri: stringifyUri,
  generateBranch: generateBranch,
  plainAddress: plainAddress,
  hostText: hostText,
};
