// Packet pacing benchmark: how evenly the engine's packets leave at each ptime. Not a test: it prints, per ptime,
// the mean deviation of the packet spacing from the ptime and the RFC 3550 interarrival jitter, and their ratio to
// those of 20 ms packets measured in the same run (1.0: as even as 20 ms; bursts show as ratios far above 1).
//   node build.mjs && node --import tsx test/bench/pacing.bench.ts [seconds]
// The engine (NativeEngine, no SIP) runs in this process; one socket here receives every leg's packets.
import { createSocket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { NativeEngine } from '../../firmware/media/native-engine.ts';

const PTIMES = [10, 20, 30, 40, 50, 60];
const SECONDS = Number(process.argv[2] ?? 5);
const LOOPBACK = '127.0.0.1';

interface Arrival {
  at: number;
  ts: number;
}

async function main(): Promise<void> {
  const engine = new NativeEngine({ rtpPorts: { min: 28000, max: 28099 }, bindAddress: LOOPBACK });
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, LOOPBACK, () => r()));
  const bySsrc = new Map<number, Arrival[]>();
  socket.on('message', (b) => {
    if (b.length < 12 || b[1]! >= 192) return;
    const ssrc = b.readUInt32BE(8);
    let list = bySsrc.get(ssrc);
    if (!list) bySsrc.set(ssrc, (list = []));
    list.push({ at: performance.now(), ts: b.readUInt32BE(4) });
  });
  const legs: number[] = [];
  for (const ptime of PTIMES) {
    const opts = { codec: 'PCMU' as const, payloadType: 0, ptime, dtmfPayloadType: null, rtpTimeoutMs: null };
    const { leg } = await engine.openLeg(opts);
    engine.connectLeg(leg, LOOPBACK, socket.address().port, opts);
    legs.push(leg);
  }
  await sleep(SECONDS * 1000);
  socket.close();
  await engine.close();

  const rows = [...bySsrc.values()].map((list) => {
    const ptime = list.length > 1 ? ((list[1]!.ts - list[0]!.ts) >>> 0) / 8 : NaN;
    let dev = 0;
    let jitter = 0;
    for (let i = 1; i < list.length; i++) {
      const gap = list[i]!.at - list[i - 1]!.at;
      dev += Math.abs(gap - ptime);
      const d = gap - ((list[i]!.ts - list[i - 1]!.ts) >>> 0) / 8;
      jitter += (Math.abs(d) - jitter) / 16;
    }
    return { ptime, packets: list.length, meanDev: dev / Math.max(1, list.length - 1), jitter };
  }).sort((a, b) => a.ptime - b.ptime);
  const base = rows.find((r) => r.ptime === 20);
  process.stdout.write(`packet pacing over ${SECONDS} s (spacing's mean deviation from the ptime; RFC 3550 jitter; ratios to 20 ms)\n`);
  for (const r of rows) {
    const ratio = (v: number, b: number | undefined) => (b ? (v / b).toFixed(1) : '-');
    process.stdout.write(`  ptime ${String(r.ptime).padStart(2)} ms: ${String(r.packets).padStart(4)} packets, deviation ${r.meanDev.toFixed(2)} ms (x${ratio(r.meanDev, base?.meanDev)}), jitter ${r.jitter.toFixed(2)} ms (x${ratio(r.jitter, base?.jitter)})\n`);
  }
}

await main();
