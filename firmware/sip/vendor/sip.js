/*! @license node-sip (sip.js 0.0.6, patched for confbox) Copyright (c) 2010 Kirill Mikhailov. MIT licence: see firmware/sip/vendor/LICENSE. */
/*
 * Patched copy of sip.js from the npm package `sip` 0.0.6 (node-sip, https://github.com/kirm/sip.js),
 * Copyright (c) 2010 Kirill Mikhailov, MIT licence: see LICENSE beside this file.
 *
 * Changes made for confbox:
 * - An ES module with only what the box uses: the message parser and stringifier, URI helpers, makeResponse,
 *   the UDP, TCP and TLS transports and the transaction layer. WebSocket transport, DNS resolution and the
 *   package's create()/start() are left out (and with them the `ws` dependency).
 * - The transports do not create sockets: they are handed the box's own bound UDP socket, TCP server and TLS
 *   server. UDP datagrams reach the transport through receive(), called by the box once it has admitted them.
 *   Each new stream (accepted or connected) is shown to onStream() before the transport reads it.
 * - What goes into the Via of a request (host and port) comes from via(target, protocol), so that the box can
 *   name its IPv4 address to IPv4 peers and its IPv6 address to IPv6 peers, and the TLS port over TLS.
 * - IPv6: bracketed hosts ([2001:db8::1]) are parsed in URIs and Via headers, Via parameters take IPv6
 *   addresses (received=2001:db8::1), and a host that is an IPv6 address is written in brackets in URIs and Via.
 *   Peers reached over a dual-stack socket appear with their plain IPv4 address, not as ::ffff:a.b.c.d.
 * - Idle stream connections are the box's to close (onStream); the transport no longer sets its own timeout.
 */
import assert from 'node:assert';
import net from 'node:net';
import tls from 'node:tls';

// ---- addresses ----

/** An IPv4 peer seen through a dual-stack IPv6 socket (::ffff:a.b.c.d) as its plain IPv4 address. */
export function plainAddress(address) {
  if (typeof address !== 'string') return '';
  var m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1] : address;
}

/** A host as it is written in a URI or Via: IPv6 addresses in brackets. */
export function hostText(host) {
  if (typeof host !== 'string') return host;
  return host.indexOf(':') >= 0 && host[0] !== '[' ? '[' + host + ']' : host;
}

// ---- parser ----

function parseResponse(rs, m) {
  var r = rs.match(/^SIP\/(\d+\.\d+)\s+(\d+)\s*(.*)\s*$/);

  if (r) {
    m.version = r[1];
    m.status = +r[2];
    m.reason = r[3];
    return m;
  }
}

function parseRequest(rq, m) {
  var r = rq.match(/^([\w\-.!%*_+`'~]+)\s([^\s]+)\sSIP\s*\/\s*(\d+\.\d+)/);

  if (r) {
    m.method = unescape(r[1]);
    m.uri = r[2];
    m.version = r[3];
    return m;
  }
}

function applyRegex(regex, data) {
  regex.lastIndex = data.i;
  var r = regex.exec(data.s);

  if (r && r.index === data.i) {
    data.i = regex.lastIndex;
    return r;
  }
}

function parseParams(data, hdr) {
  hdr.params = hdr.params || {};

  // Values may be IPv6 addresses, bare or bracketed (received=2001:db8::1, maddr=[2001:db8::1]).
  var re = /\s*;\s*([\w\-.!%*_+`'~]+)(?:\s*=\s*([\w\-.!%*_+`'~:\[\]]+|"[^"\\]*(\\.[^"\\]*)*"))?/g;

  for (var r = applyRegex(re, data); r; r = applyRegex(re, data)) {
    hdr.params[r[1].toLowerCase()] = r[2] || null;
  }

  return hdr;
}

function parseMultiHeader(parser, d, h) {
  h = h || [];

  var re = /\s*,\s*/g;
  do {
    h.push(parser(d));
  } while (d.i < d.s.length && applyRegex(re, d));

  return h;
}

function parseGenericHeader(d, h) {
  return h ? h + ',' + d.s : d.s;
}

export function parseAOR(data) {
  var r = applyRegex(/((?:[\w\-.!%*_+`'~]+)(?:\s+[\w\-.!%*_+`'~]+)*|"[^"\\]*(?:\\.[^"\\]*)*")?\s*\<\s*([^>]*)\s*\>|((?:[^\s@"<]@)?[^\s;]+)/g, data);

  return parseParams(data, { name: r[1], uri: r[2] || r[3] || '' });
}

function parseAorWithUri(data) {
  var r = parseAOR(data);
  r.uri = parseUri(r.uri);
  return r;
}

function parseVia(data) {
  var r = applyRegex(/SIP\s*\/\s*(\d+\.\d+)\s*\/\s*([\S]+)\s+(\[[0-9A-Fa-f:.]+\]|[^\s;:\[]+)(?:\s*:\s*(\d+))?/g, data);
  return parseParams(data, { version: r[1], protocol: r[2], host: r[3], port: r[4] && +r[4] });
}

function parseCSeq(d) {
  var r = /(\d+)\s*([\S]+)/.exec(d.s);
  return { seq: +r[1], method: unescape(r[2]) };
}

function parseAuthHeader(d) {
  var r1 = applyRegex(/([^\s]*)\s+/g, d);
  var a = { scheme: r1[1] };

  var r2 = applyRegex(/([^\s,"=]*)\s*=\s*([^\s,"]+|"[^"\\]*(?:\\.[^"\\]*)*")\s*/g, d);
  a[r2[1]] = r2[2];

  while ((r2 = applyRegex(/,\s*([^\s,"=]*)\s*=\s*([^\s,"]+|"[^"\\]*(?:\\.[^"\\]*)*")\s*/g, d))) {
    a[r2[1]] = r2[2];
  }

  return a;
}

function parseAuthenticationInfoHeader(d) {
  var a = {};
  var r = applyRegex(/([^\s,"=]*)\s*=\s*([^\s,"]+|"[^"\\]*(?:\\.[^"\\]*)*")\s*/g, d);
  a[r[1]] = r[2];

  while ((r = applyRegex(/,\s*([^\s,"=]*)\s*=\s*([^\s,"]+|"[^"\\]*(?:\\.[^"\\]*)*")\s*/g, d))) {
    a[r[1]] = r[2];
  }
  return a;
}

var compactForm = {
  i: 'call-id',
  m: 'contact',
  e: 'contact-encoding',
  l: 'content-length',
  c: 'content-type',
  f: 'from',
  s: 'subject',
  k: 'supported',
  t: 'to',
  v: 'via',
};

var parsers = {
  to: parseAOR,
  from: parseAOR,
  contact: function (v, h) {
    if (v == '*') return v;
    return parseMultiHeader(parseAOR, v, h);
  },
  route: parseMultiHeader.bind(0, parseAorWithUri),
  'record-route': parseMultiHeader.bind(0, parseAorWithUri),
  path: parseMultiHeader.bind(0, parseAorWithUri),
  cseq: parseCSeq,
  'content-length': function (v) {
    return +v.s;
  },
  via: parseMultiHeader.bind(0, parseVia),
  'www-authenticate': parseMultiHeader.bind(0, parseAuthHeader),
  'proxy-authenticate': parseMultiHeader.bind(0, parseAuthHeader),
  authorization: parseMultiHeader.bind(0, parseAuthHeader),
  'proxy-authorization': parseMultiHeader.bind(0, parseAuthHeader),
  'authentication-info': parseAuthenticationInfoHeader,
  'refer-to': parseAOR,
};

function parseHeaders(data) {
  data = data.split(/\r\n(?![ \t])/);

  if (data[0] === '') return;

  var m = {};

  if (!(parseResponse(data[0], m) || parseRequest(data[0], m))) return;

  m.headers = {};

  for (var i = 1; i < data.length; ++i) {
    var r = data[i].match(/^([\S]*?)\s*:\s*([\s\S]*)$/);
    if (!r) return;

    var name = unescape(r[1]).toLowerCase();
    name = compactForm[name] || name;

    try {
      m.headers[name] = (parsers[name] || parseGenericHeader)({ s: r[2], i: 0 }, m.headers[name]);
    } catch (e) {
      // a header the parsers cannot read is left out
    }
  }

  return m;
}

export function parseUri(s) {
  if (typeof s === 'object') return s;

  // The host is a name, an IPv4 address or a bracketed IPv6 reference (RFC 3261 25.1, RFC 5118).
  var re = /^(sips?):(?:([^\s>:@]+)(?::([^\s@>]+))?@)?([\w\-\.]+|\[[0-9A-Fa-f:.]+\])(?::(\d+))?((?:;[^\s=\?>;]+(?:=[^\s?\;]+)?)*)(?:\?(([^\s&=>]+=[^\s&=>]+)(&[^\s&=>]+=[^\s&=>]+)*))?$/;

  var r = re.exec(s);

  if (r) {
    return {
      schema: r[1],
      user: r[2],
      password: r[3],
      host: r[4],
      port: +r[5],
      params: (r[6].match(/([^;=]+)(=([^;=]+))?/g) || [])
        .map(function (s) {
          return s.split('=');
        })
        .reduce(function (params, x) {
          params[x[0]] = x[1] || null;
          return params;
        }, {}),
      headers: ((r[7] || '').match(/[^&=]+=[^&=]+/g) || [])
        .map(function (s) {
          return s.split('=');
        })
        .reduce(function (params, x) {
          params[x[0]] = x[1];
          return params;
        }, {}),
    };
  }
}

// ---- stringifier ----

function stringifyVersion(v) {
  return v || '2.0';
}

function stringifyParams(params) {
  var s = '';
  for (var n in params) {
    s += ';' + n + (params[n] ? '=' + params[n] : '');
  }
  return s;
}

export function stringifyUri(uri) {
  if (typeof uri === 'string') return uri;

  var s = (uri.schema || 'sip') + ':';

  if (uri.user) {
    if (uri.password) s += uri.user + ':' + uri.password + '@';
    else s += uri.user + '@';
  }

  s += hostText(uri.host);

  if (uri.port) s += ':' + uri.port;

  if (uri.params) s += stringifyParams(uri.params);

  if (uri.headers) {
    var h = Object.keys(uri.headers)
      .map(function (x) {
        return x + '=' + uri.headers[x];
      })
      .join('&');
    if (h.length) s += '?' + h;
  }
  return s;
}

function stringifyAOR(aor) {
  return (aor.name || '') + ' <' + stringifyUri(aor.uri) + '>' + stringifyParams(aor.params);
}

export function stringifyAuthHeader(a) {
  var s = [];

  for (var n in a) {
    if (n !== 'scheme' && a[n] !== undefined) {
      s.push(n + '=' + a[n]);
    }
  }

  return a.scheme ? a.scheme + ' ' + s.join(',') : s.join(',');
}

var stringifiers = {
  via: function (h) {
    return h
      .map(function (via) {
        if (via.host) {
          return 'Via: SIP/' + stringifyVersion(via.version) + '/' + via.protocol.toUpperCase() + ' ' + hostText(via.host) + (via.port ? ':' + via.port : '') + stringifyParams(via.params) + '\r\n';
        }
        return '';
      })
      .join('');
  },
  to: function (h) {
    return 'To: ' + stringifyAOR(h) + '\r\n';
  },
  from: function (h) {
    return 'From: ' + stringifyAOR(h) + '\r\n';
  },
  contact: function (h) {
    return 'Contact: ' + (h !== '*' && h.length ? h.map(stringifyAOR).join(', ') : '*') + '\r\n';
  },
  route: function (h) {
    return h.length ? 'Route: ' + h.map(stringifyAOR).join(', ') + '\r\n' : '';
  },
  'record-route': function (h) {
    return h.length ? 'Record-Route: ' + h.map(stringifyAOR).join(', ') + '\r\n' : '';
  },
  path: function (h) {
    return h.length ? 'Path: ' + h.map(stringifyAOR).join(', ') + '\r\n' : '';
  },
  cseq: function (cseq) {
    return 'CSeq: ' + cseq.seq + ' ' + cseq.method + '\r\n';
  },
  'www-authenticate': function (h) {
    return h.map(function (x) { return 'WWW-Authenticate: ' + stringifyAuthHeader(x) + '\r\n'; }).join('');
  },
  'proxy-authenticate': function (h) {
    return h.map(function (x) { return 'Proxy-Authenticate: ' + stringifyAuthHeader(x) + '\r\n'; }).join('');
  },
  authorization: function (h) {
    return h.map(function (x) { return 'Authorization: ' + stringifyAuthHeader(x) + '\r\n'; }).join('');
  },
  'proxy-authorization': function (h) {
    return h.map(function (x) { return 'Proxy-Authorization: ' + stringifyAuthHeader(x) + '\r\n'; }).join('');
  },
  'authentication-info': function (h) {
    return 'Authentication-Info: ' + stringifyAuthHeader(h) + '\r\n';
  },
  'refer-to': function (h) {
    return 'Refer-To: ' + stringifyAOR(h) + '\r\n';
  },
};

function prettifyHeaderName(s) {
  if (s == 'call-id') return 'Call-ID';

  return s.replace(/\b([a-z])/g, function (a) {
    return a.toUpperCase();
  });
}

export function stringify(m) {
  var s;
  if (m.status) {
    s = 'SIP/' + stringifyVersion(m.version) + ' ' + m.status + ' ' + m.reason + '\r\n';
  } else {
    s = m.method + ' ' + stringifyUri(m.uri) + ' SIP/' + stringifyVersion(m.version) + '\r\n';
  }

  m.headers['content-length'] = (m.content || '').length;

  for (var n in m.headers) {
    if (typeof m.headers[n] !== 'undefined') {
      if (typeof m.headers[n] === 'string' || !stringifiers[n]) s += prettifyHeaderName(n) + ': ' + m.headers[n] + '\r\n';
      else s += stringifiers[n](m.headers[n], n);
    }
  }

  s += '\r\n';

  if (m.content) s += m.content;

  return s;
}

export function makeResponse(rq, status, reason, extension) {
  var rs = {
    status: status,
    reason: reason || '',
    version: rq.version,
    headers: {
      via: rq.headers.via,
      to: rq.headers.to,
      from: rq.headers.from,
      'call-id': rq.headers['call-id'],
      cseq: rq.headers.cseq,
    },
  };

  if (extension) {
    if (extension.headers) Object.keys(extension.headers).forEach(function (h) { rs.headers[h] = extension.headers[h]; });
    rs.content = extension.content;
  }

  return rs;
}

function makeStreamParser(onMessage, onFlood, maxBytesHeaders, maxContentLength) {
  onFlood = onFlood || function () {};
  maxBytesHeaders = maxBytesHeaders || 60480;
  maxContentLength = maxContentLength || 604800;

  var m;
  var r = '';

  function headers(data) {
    r += data;

    if (r.length > maxBytesHeaders) {
      r = '';
      onFlood();
      return;
    }

    var a = r.match(/^\s*([\S\s]*?)\r\n\r\n([\S\s]*)$/);

    if (a) {
      r = a[2];
      m = parseHeaders(a[1]);

      if (m && m.headers['content-length'] !== undefined) {
        if (m.headers['content-length'] > maxContentLength) {
          r = '';
          onFlood();
        }

        state = content;
        content('');
      } else headers('');
    }
  }

  function content(data) {
    r += data;

    if (r.length >= m.headers['content-length']) {
      m.content = r.substring(0, m.headers['content-length']);

      onMessage(m);

      var s = r.substring(m.headers['content-length']);
      state = headers;
      r = '';
      headers(s);
    }
  }

  var state = headers;

  return function (data) {
    state(data);
  };
}

/** Parses one whole message (a datagram): headers, then as much body as Content-Length says. */
export function parse(s) {
  var r = s.toString('binary').match(/^\s*([\S\s]*?)\r\n\r\n([\S\s]*)$/);
  if (r) {
    var m = parseHeaders(r[1]);

    if (m) {
      if (m.headers['content-length']) {
        var c = Math.max(0, Math.min(m.headers['content-length'], r[2].length));
        m.content = r[2].substring(0, c);
      } else {
        m.content = r[2];
      }

      return m;
    }
  }
}

function checkMessage(msg) {
  return (
    (msg.method || (msg.status >= 100 && msg.status <= 999)) &&
    msg.headers &&
    Array.isArray(msg.headers.via) &&
    msg.headers.via.length > 0 &&
    msg.headers['call-id'] &&
    msg.headers.to &&
    msg.headers.from &&
    msg.headers.cseq
  );
}

// ---- transports ----

function makeStreamTransport(protocol, options, server, connectionEvent, connect, callback) {
  var remotes = Object.create(null);
  var flows = Object.create(null);
  var onStream = options.onStream || function () {};

  function init(stream, remote, incoming) {
    var remoteid = [remote.address, remote.port].join(),
      flowid = undefined,
      refs = 0;

    function localAddress() {
      return plainAddress(stream.localAddress);
    }

    function register_flow() {
      flowid = [remoteid, localAddress(), stream.localPort].join();
      flows[flowid] = remotes[remoteid];
    }

    var onMessage = function (m) {
      if (checkMessage(m)) {
        if (m.method) m.headers.via[0].params.received = remote.address;
        callback(
          m,
          { protocol: remote.protocol, address: plainAddress(stream.remoteAddress), port: stream.remotePort, local: { address: localAddress(), port: stream.localPort } },
          stream,
        );
      }
    };

    var onFlood = function () {
      stream.destroy();
    };

    onStream(stream, protocol, incoming);
    stream.setEncoding('binary');
    stream.on('data', makeStreamParser(onMessage, onFlood, options.maxBytesHeaders, options.maxContentLength));

    stream.on('close', function () {
      if (flowid) delete flows[flowid];
      delete remotes[remoteid];
    });
    stream.on('connect', register_flow);

    stream.on('error', function () {});
    stream.on('end', function () {
      if (refs !== 0) stream.emit('error', new Error('remote peer disconnected'));
      stream.end();
    });

    stream.setMaxListeners(10000);

    remotes[remoteid] = function (onError) {
      ++refs;
      if (onError) stream.on('error', onError);

      return {
        release: function () {
          if (onError) stream.removeListener('error', onError);
          if (--refs === 0) stream.emit('no_reference');
        },
        send: function (m) {
          stream.write(stringify(m), 'binary');
        },
        protocol: protocol,
      };
    };

    if (stream.localPort) register_flow();

    return remotes[remoteid];
  }

  if (server) {
    server.on(connectionEvent, function (stream) {
      init(stream, { protocol: protocol, address: plainAddress(stream.remoteAddress), port: stream.remotePort }, true);
    });
  }

  return {
    open: function (remote, error) {
      var address = plainAddress(remote.address);
      var remoteid = [address, remote.port].join();

      if (remoteid in remotes) return remotes[remoteid](error);

      return init(connect(remote.port, address), { protocol: protocol, address: address, port: remote.port }, false)(error);
    },
    get: function (address, error) {
      var c = address.local
        ? flows[[plainAddress(address.address), address.port, plainAddress(address.local.address), address.local.port].join()]
        : remotes[[plainAddress(address.address), address.port].join()];

      return c && c(error);
    },
    destroy: function () {
      if (server) server.close();
    },
  };
}

function makeUdpTransport(options, callback) {
  var socket = options.udp;
  // A dual-stack (udp6) socket reaches IPv4 peers at their v4-mapped address.
  var v6 = options.udpFamily === 6;

  function local() {
    try {
      var a = socket.address();
      return { address: plainAddress(a.address), port: a.port };
    } catch (e) {
      return { address: '', port: 0 };
    }
  }

  function receive(data, rinfo) {
    var msg = parse(data);

    if (msg && checkMessage(msg)) {
      var address = plainAddress(rinfo.address);
      if (msg.method) {
        msg.headers.via[0].params.received = address;
        if (msg.headers.via[0].params.hasOwnProperty('rport')) msg.headers.via[0].params.rport = rinfo.port;
      }

      callback(msg, { protocol: 'UDP', address: address, port: rinfo.port, local: local() });
    }
  }

  function open(remote) {
    var address = plainAddress(remote.address);
    if (v6 && net.isIPv4(address)) address = '::ffff:' + address;
    return {
      send: function (m) {
        var s = stringify(m);
        socket.send(Buffer.from(s, 'binary'), 0, s.length, remote.port, address);
      },
      protocol: 'UDP',
      release: function () {},
    };
  }

  return {
    open: open,
    get: open,
    receive: receive,
    destroy: function () {
      socket.close();
    },
  };
}

/**
 * The box's transports over its own sockets: options.udp (a bound dgram socket, options.udpFamily 4 or 6),
 * options.tcp (a listening net.Server), options.tls (a listening tls.Server, with options.tlsConnect for the
 * connections the box opens), options.via(target, protocol) giving the host and port for Via, options.onStream.
 */
export function makeTransport(options, callback) {
  var protocols = {};
  var udp = null;

  if (options.udp) protocols.UDP = udp = makeUdpTransport(options, callback);
  if (options.tcp)
    protocols.TCP = makeStreamTransport('TCP', options, options.tcp, 'connection', function (port, host) {
      return net.connect(port, host);
    }, callback);
  if (options.tls)
    protocols.TLS = makeStreamTransport('TLS', options, options.tls, 'secureConnection', function (port, host) {
      return tls.connect(port, host, options.tlsConnect || {});
    }, callback);

  function wrap(obj, target) {
    return Object.create(obj, {
      send: {
        value: function (m) {
          if (m.method) {
            var via = options.via(target, this.protocol);
            m.headers.via[0].host = via.host;
            m.headers.via[0].port = via.port;
            m.headers.via[0].protocol = this.protocol;

            if (this.protocol === 'UDP' && (!options.hasOwnProperty('rport') || options.rport)) {
              m.headers.via[0].params.rport = null;
            }
          }
          obj.send(m);
        },
      },
    });
  }

  function transportOf(target) {
    var t = protocols[String(target.protocol).toUpperCase()];
    if (!t) throw new Error('no ' + target.protocol + ' transport');
    return t;
  }

  return {
    open: function (target, error) {
      return wrap(transportOf(target).open(target, error), target);
    },
    get: function (target, error) {
      var flow = transportOf(target).get(target, error);
      return flow && wrap(flow, target);
    },
    receive: function (data, rinfo) {
      if (udp) udp.receive(data, rinfo);
    },
    destroy: function () {
      var protos = protocols;
      protocols = {};
      Object.keys(protos).forEach(function (key) {
        protos[key].destroy();
      });
    },
  };
}

// ---- transaction layer ----

export function generateBranch() {
  return ['z9hG4bK', Math.round(Math.random() * 1000000)].join('');
}

function makeSM() {
  var state;

  return {
    enter: function (newstate) {
      if (state && state.leave) state.leave();

      state = newstate;
      Array.prototype.shift.apply(arguments);
      if (state.enter) state.enter.apply(this, arguments);
    },
    signal: function (s) {
      if (state && state[s]) state[Array.prototype.shift.apply(arguments)].apply(state, arguments);
    },
  };
}

function createInviteServerTransaction(transport, cleanup) {
  var sm = makeSM();
  var rs;

  var proceeding = {
    message: function () {
      if (rs) transport(rs);
    },
    send: function (message) {
      rs = message;

      if (message.status >= 300) sm.enter(completed);
      else if (message.status >= 200) sm.enter(accepted);

      transport(rs);
    },
  };

  var g, h;
  var completed = {
    enter: function () {
      g = setTimeout(function retry(t) {
        g = setTimeout(retry, t * 2, t * 2);
        transport(rs);
      }, 500, 500);
      h = setTimeout(sm.enter.bind(sm, terminated), 32000);
    },
    leave: function () {
      clearTimeout(g);
      clearTimeout(h);
    },
    message: function (m) {
      if (m.method === 'ACK') sm.enter(confirmed);
      else transport(rs);
    },
  };

  var timer_i;
  var confirmed = {
    enter: function () {
      timer_i = setTimeout(sm.enter.bind(sm, terminated), 5000);
    },
    leave: function () {
      clearTimeout(timer_i);
    },
  };

  var l;
  var accepted = {
    enter: function () {
      l = setTimeout(sm.enter.bind(sm, terminated), 32000);
    },
    leave: function () {
      clearTimeout(l);
    },
    send: function (m) {
      rs = m;
      transport(rs);
    },
  };

  var terminated = { enter: cleanup };

  sm.enter(proceeding);

  return { send: sm.signal.bind(sm, 'send'), message: sm.signal.bind(sm, 'message'), shutdown: function () { sm.enter(terminated); } };
}

function createServerTransaction(transport, cleanup) {
  var sm = makeSM();
  var rs;

  var trying = {
    message: function () {
      if (rs) transport(rs);
    },
    send: function (m) {
      rs = m;
      transport(m);
      if (m.status >= 200) sm.enter(completed);
    },
  };

  var j;
  var completed = {
    message: function () {
      transport(rs);
    },
    enter: function () {
      j = setTimeout(function () {
        sm.enter(terminated);
      }, 32000);
    },
    leave: function () {
      clearTimeout(j);
    },
  };

  var terminated = { enter: cleanup };

  sm.enter(trying);

  return { send: sm.signal.bind(sm, 'send'), message: sm.signal.bind(sm, 'message'), shutdown: function () { sm.enter(terminated); } };
}

function createInviteClientTransaction(rq, transport, tu, cleanup, options) {
  var sm = makeSM();

  var a, b;
  var calling = {
    enter: function () {
      transport(rq);

      if (!transport.reliable) {
        a = setTimeout(function resend(t) {
          transport(rq);
          a = setTimeout(resend, t * 2, t * 2);
        }, 500, 500);
      }

      b = setTimeout(function () {
        tu(makeResponse(rq, 408));
        sm.enter(terminated);
      }, 32000);
    },
    leave: function () {
      clearTimeout(a);
      clearTimeout(b);
    },
    message: function (message) {
      tu(message);

      if (message.status < 200) sm.enter(proceeding);
      else if (message.status < 300) sm.enter(accepted);
      else sm.enter(completed, message);
    },
  };

  var proceeding = {
    message: function (message) {
      tu(message);

      if (message.status >= 300) sm.enter(completed, message);
      else if (message.status >= 200) sm.enter(accepted);
    },
  };

  var ack = {
    method: 'ACK',
    uri: rq.uri,
    headers: {
      from: rq.headers.from,
      cseq: { method: 'ACK', seq: rq.headers.cseq.seq },
      'call-id': rq.headers['call-id'],
      via: [rq.headers.via[0]],
      'max-forwards': (options && options['max-forwards']) || 70,
    },
  };

  var d;
  var completed = {
    enter: function (rs) {
      ack.headers.to = rs.headers.to;
      transport(ack);
      d = setTimeout(sm.enter.bind(sm, terminated), 32000);
    },
    leave: function () {
      clearTimeout(d);
    },
    message: function (message, remote) {
      if (remote) transport(ack); // internally generated answers are not acknowledged
    },
  };

  var timer_m;
  var accepted = {
    enter: function () {
      timer_m = setTimeout(function () {
        sm.enter(terminated);
      }, 32000);
    },
    leave: function () {
      clearTimeout(timer_m);
    },
    message: function (m) {
      if (m.status >= 200 && m.status <= 299) tu(m);
    },
  };

  var terminated = { enter: cleanup };

  process.nextTick(function () {
    sm.enter(calling);
  });

  return { message: sm.signal.bind(sm, 'message'), shutdown: function () { sm.enter(terminated); } };
}

function createClientTransaction(rq, transport, tu, cleanup) {
  assert.ok(rq.method !== 'INVITE');

  var sm = makeSM();

  var e, f;
  var trying = {
    enter: function () {
      transport(rq);
      if (!transport.reliable)
        e = setTimeout(function () {
          sm.signal('timerE', 500);
        }, 500);
      f = setTimeout(function () {
        sm.signal('timerF');
      }, 32000);
    },
    leave: function () {
      clearTimeout(e);
      clearTimeout(f);
    },
    message: function (message) {
      if (message.status >= 200) sm.enter(completed);
      else sm.enter(proceeding);
      tu(message);
    },
    timerE: function (t) {
      transport(rq);
      e = setTimeout(function () {
        sm.signal('timerE', t * 2);
      }, t * 2);
    },
    timerF: function () {
      tu(makeResponse(rq, 408));
      sm.enter(terminated);
    },
  };

  var proceeding = {
    message: function (message) {
      if (message.status >= 200) sm.enter(completed);
      tu(message);
    },
  };

  var k;
  var completed = {
    enter: function () {
      k = setTimeout(function () {
        sm.enter(terminated);
      }, 5000);
    },
    leave: function () {
      clearTimeout(k);
    },
  };

  var terminated = { enter: cleanup };

  process.nextTick(function () {
    sm.enter(trying);
  });

  return { message: sm.signal.bind(sm, 'message'), shutdown: function () { sm.enter(terminated); } };
}

function makeTransactionId(m) {
  if (m.method === 'ACK') return ['INVITE', m.headers['call-id'], m.headers.via[0].params.branch].join();
  return [m.headers.cseq.method, m.headers['call-id'], m.headers.via[0].params.branch].join();
}

export function makeTransactionLayer(options) {
  var server_transactions = Object.create(null);
  var client_transactions = Object.create(null);

  return {
    createServerTransaction: function (rq, cn) {
      var id = makeTransactionId(rq);

      return (server_transactions[id] = (rq.method === 'INVITE' ? createInviteServerTransaction : createServerTransaction)(cn.send.bind(cn), function () {
        delete server_transactions[id];
        cn.release();
      }));
    },
    createClientTransaction: function (connection, rq, callback) {
      if (rq.method !== 'CANCEL') rq.headers.via[0].params.branch = generateBranch();

      if (typeof rq.headers.cseq !== 'object') rq.headers.cseq = parseCSeq({ s: rq.headers.cseq, i: 0 });

      var send = connection.send.bind(connection);
      send.reliable = connection.protocol.toUpperCase() !== 'UDP';

      var id = makeTransactionId(rq);
      return (client_transactions[id] = (rq.method === 'INVITE' ? createInviteClientTransaction : createClientTransaction)(
        rq,
        send,
        callback,
        function () {
          delete client_transactions[id];
          connection.release();
        },
        options,
      ));
    },
    getServer: function (m) {
      return server_transactions[makeTransactionId(m)];
    },
    getClient: function (m) {
      return client_transactions[makeTransactionId(m)];
    },
    destroy: function () {
      Object.keys(client_transactions).forEach(function (x) { client_transactions[x].shutdown(); });
      Object.keys(server_transactions).forEach(function (x) { server_transactions[x].shutdown(); });
    },
  };
}

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
