// Transports over the box's own UDP socket, TCP server and TLS server: part of the patched copy of node-sip 0.0.6 described in sip.js beside this file (MIT, see LICENSE).
import net from 'node:net';
import tls from 'node:tls';
import { checkMessage, makeStreamParser, parse, plainAddress, stringify } from './message.js';

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
    // Each SIP message is one write: sent at once, not held back for the peer's acknowledgement of the last (Nagle).
    stream.setNoDelay(true);
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
