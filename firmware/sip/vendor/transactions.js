// The transaction layer (RFC 3261 section 17): part of the patched copy of node-sip 0.0.6 described in sip.js beside this file (MIT, see LICENSE).
import assert from 'node:assert';
import { makeResponse, parseCSeq } from './message.js';

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
