import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from '../log.ts';
import type { Engine, EngineEvents, EngineStats, LegOptions } from './engine.ts';

interface Leg {
  rtp: Socket;
  port: number;
  remote: { address: string; port: number } | null;
  /** First source seen from the signalled host; others are dropped. */
  locked: string | null;
  conference: string | null;
  muted: boolean;
  opts: LegOptions;
}

/**
 * The signaling side's media endpoint until the native mixer is loaded: it binds each leg's RTP
 * port from the range, validates and counts what arrives, and mixes nothing.
 */
export class SocketEngine implements Engine {
  private legs = new Map<number, Leg>();
  private nextLeg = 1;
  private cursor: number;
  private counters = { packetsIn: 0, packetsDropped: 0 };

  constructor(
    private readonly range: { min: number; max: number },
    private readonly bindAddress: string,
    private readonly log: Logger,
    readonly events: Partial<EngineEvents> = {},
  ) {
    this.cursor = range.min + (range.min % 2);
  }

  async openLeg(opts: LegOptions): Promise<{ leg: number; localPort: number }> {
    const span = Math.floor((this.range.max - this.range.min + 1) / 2);
    for (let tries = 0; tries < span; tries++) {
      const port = this.takePort();
      const socket = await this.tryBind(port);
      if (!socket) continue;
      const id = this.nextLeg++;
      const leg: Leg = { rtp: socket, port, remote: null, locked: null, conference: null, muted: false, opts };
      socket.on('message', (buf, rinfo) => this.onPacket(leg, buf, `${rinfo.address}:${rinfo.port}`, rinfo.address));
      socket.on('error', (e) => this.log.warn('rtp socket error', { port, err: e }));
      this.legs.set(id, leg);
      return { leg: id, localPort: port };
    }
    throw new Error(`no free RTP port in ${this.range.min}-${this.range.max}`);
  }

  connectLeg(leg: number, address: string, port: number, opts: LegOptions): void {
    const l = this.legs.get(leg);
    if (!l) return;
    if (l.remote?.address !== address) l.locked = null;
    l.remote = { address, port };
    l.opts = opts;
  }

  joinConference(leg: number, conference: string): void {
    const l = this.legs.get(leg);
    if (l) l.conference = conference;
  }

  leaveConference(leg: number): void {
    const l = this.legs.get(leg);
    if (l) l.conference = null;
  }

  setMuted(leg: number, muted: boolean): void {
    const l = this.legs.get(leg);
    if (l) l.muted = muted;
  }

  closeLeg(leg: number): void {
    const l = this.legs.get(leg);
    if (!l) return;
    this.legs.delete(leg);
    l.rtp.close();
  }

  stats(): EngineStats {
    return { legs: this.legs.size, ...this.counters };
  }

  async close(): Promise<void> {
    for (const id of [...this.legs.keys()]) this.closeLeg(id);
  }

  private takePort(): number {
    const port = this.cursor;
    this.cursor += 2;
    if (this.cursor + 1 > this.range.max) this.cursor = this.range.min + (this.range.min % 2);
    return port;
  }

  private tryBind(port: number): Promise<Socket | null> {
    return new Promise((resolve) => {
      const s = createSocket(this.bindAddress.includes(':') ? 'udp6' : 'udp4');
      s.once('error', () => {
        s.close();
        resolve(null);
      });
      s.bind(port, this.bindAddress, () => {
        s.removeAllListeners('error');
        resolve(s);
      });
    });
  }

  private onPacket(leg: Leg, buf: Buffer, source: string, host: string): void {
    // RTP version 2 with a full fixed header; anything else is counted and dropped.
    const valid = buf.length >= 12 && buf[0]! >> 6 === 2;
    const fromPeer = leg.remote !== null && (leg.remote.address === host || leg.remote.address === '0.0.0.0');
    if (!valid || !fromPeer || (leg.locked !== null && leg.locked !== source)) {
      this.counters.packetsDropped++;
      return;
    }
    leg.locked ??= source;
    this.counters.packetsIn++;
  }
}
