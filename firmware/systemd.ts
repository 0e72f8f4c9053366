/**
 * Supervision by systemd (board/rootfs/etc/systemd/system/confbox.service, Type=notify): the
 * notify protocol of sd_notify(3). READY=1 once every subsystem is up, WATCHDOG=1 at half the
 * watchdog interval but only while the media engine's tick advances (a stalled audio path gets
 * the box restarted), STATUS= lines for `systemctl status`, STOPPING=1 on shutdown.
 *
 * Outside systemd (no NOTIFY_SOCKET) every call does nothing. A notification that cannot be sent
 * is logged once and the box runs on. Node has no unix datagram sockets: the datagrams go out
 * through the media engine addon (binding/notify.c), from this process, whose PID systemd checks.
 */
import { systemClock, type Clock, type Timer } from './clock.ts';
import type { Logger } from './log.ts';
import { loadAddon } from './media/native-engine.ts';
import type { StatusSnapshot } from './status.ts';

/** Sends one datagram to the notify socket ("/path" or "@abstract"); throws when it cannot. */
export type SendNotification = (socket: string, message: string) => void;

/** What the notifier reads of the status model (firmware/status.ts's Status fits). */
export interface StatusFeed {
  get(): Readonly<StatusSnapshot>;
  on(event: 'change', listener: () => void): unknown;
  off(event: 'change', listener: () => void): unknown;
}

export interface SystemdOptions {
  log: Logger;
  /** Followed for STATUS= lines. */
  status?: StatusFeed;
  /** Where NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID are read, and then removed from [process.env]. */
  env?: NodeJS.ProcessEnv;
  /** [the addon's sdNotify] */
  send?: SendNotification;
  clock?: Clock;
  /** This process [process.pid], compared with WATCHDOG_PID. */
  pid?: number;
}

/** The variables systemd passes to a notify service; children must not inherit them. */
const VARIABLES = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID'] as const;

export class Systemd {
  /** The notify socket; null outside systemd (every call then does nothing). */
  readonly socket: string | null;
  /** How often the watchdog is fed (half of WATCHDOG_USEC), in ms; null when systemd watches none. */
  readonly watchdogIntervalMs: number | null;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly status: StatusFeed | undefined;
  private readonly send: SendNotification | null;
  private failing = false;
  private lastStatus = '';
  private timer: Timer | null = null;
  private ticks: (() => number) | null = null;
  private lastTicks: number | null = null;
  private stalled = false;
  private closed = false;
  /** READY=1 was sent: until then the status says "starting", whatever the model says. */
  private announced = false;
  private readonly onStatus = () => this.publishStatus();

  /** Reads and removes systemd's variables: construct it before any child process is started. */
  constructor(options: SystemdOptions) {
    const env = options.env ?? process.env;
    this.log = options.log.child({ subsystem: 'systemd' });
    this.clock = options.clock ?? systemClock;
    this.status = options.status;
    const socket = env.NOTIFY_SOCKET ?? '';
    const usec = env.WATCHDOG_USEC;
    const watchdogPid = env.WATCHDOG_PID;
    // The embedded MariaDB is systemd-aware: inheriting these, it would report itself ready in the box's name.
    for (const v of VARIABLES) delete env[v];

    this.socket = null;
    this.watchdogIntervalMs = null;
    this.send = null;
    if (socket === '') {
      this.log.debug('not supervised by systemd (no NOTIFY_SOCKET)');
      return;
    }
    if (!socket.startsWith('/') && !socket.startsWith('@')) {
      this.log.warn('NOTIFY_SOCKET is neither a path nor an abstract socket name; not notifying systemd', { socket });
      return;
    }
    this.socket = socket;
    this.send = options.send ?? addonSend(this.log);
    this.watchdogIntervalMs = watchdogInterval(usec, watchdogPid, options.pid ?? process.pid, this.log);
    this.status?.on('change', this.onStatus);
    this.publishStatus();
    this.log.info('supervised by systemd', { socket, watchdogIntervalMs: this.watchdogIntervalMs });
  }

  /**
   * Every subsystem is up: READY=1, then WATCHDOG=1 at each interval in which `ticks` (the media
   * engine's tick count) advanced. A stalled count withholds the watchdog until it moves again.
   */
  ready(ticks: () => number): void {
    if (!this.socket || this.closed) return;
    this.announced = true;
    this.notify(`READY=1\nSTATUS=${this.summary()}`);
    if (this.watchdogIntervalMs === null || this.ticks) return;
    this.ticks = ticks;
    this.lastTicks = this.readTicks();
    this.arm();
  }

  /** The box is shutting down: STOPPING=1; the watchdog and the status stop being followed. */
  stopping(): void {
    if (!this.socket || this.closed) return;
    this.close();
    this.notify('STOPPING=1\nSTATUS=stopping');
  }

  /** Stops the watchdog and the status feed without telling systemd anything. */
  close(): void {
    this.closed = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.status?.off('change', this.onStatus);
  }

  private arm(): void {
    this.timer = this.clock.setTimeout(() => this.feedWatchdog(), this.watchdogIntervalMs!);
  }

  private feedWatchdog(): void {
    this.timer = null;
    if (this.closed) return;
    const ticks = this.readTicks();
    if (ticks !== null && ticks !== this.lastTicks) {
      this.lastTicks = ticks;
      if (this.stalled) {
        this.stalled = false;
        this.log.info('the media engine ticks again; feeding the systemd watchdog again', { ticks });
        this.notify(`WATCHDOG=1\nSTATUS=${this.summary()}`);
      } else {
        this.notify('WATCHDOG=1');
      }
    } else if (!this.stalled) {
      this.stalled = true;
      this.log.error('the media engine tick is stalled; withholding the systemd watchdog so that the box is restarted', {
        ticks, watchdogIntervalMs: this.watchdogIntervalMs,
      });
      this.notify('STATUS=media engine stalled');
    }
    this.arm();
  }

  private readTicks(): number | null {
    try {
      return this.ticks ? this.ticks() : null;
    } catch (e) {
      this.log.debug('cannot read the media engine tick count', { err: e });
      return null;
    }
  }

  private publishStatus(): void {
    if (!this.socket || !this.status || this.closed || this.stalled) return;
    const text = this.summary();
    if (text === this.lastStatus) return;
    this.notify(`STATUS=${text}`);
  }

  private summary(): string {
    if (!this.status) return this.announced ? 'running' : 'starting';
    const s = this.status.get();
    return describeStatus(this.announced ? s : { ...s, ready: false });
  }

  private notify(message: string): void {
    if (!this.socket || !this.send) return;
    const status = /(?:^|\n)STATUS=(.*)/.exec(message);
    if (status) this.lastStatus = status[1]!;
    try {
      this.send(this.socket, message);
      if (this.failing) {
        this.failing = false;
        this.log.info('systemd notifications are delivered again', { socket: this.socket });
      }
    } catch (e) {
      if (this.failing) return;
      this.failing = true;
      this.log.warn('cannot notify systemd; the box runs on, reported once until a notification gets through', {
        socket: this.socket, message: message.split('\n')[0], err: e,
      });
    }
  }
}

/** sd_watchdog_enabled(3): half of WATCHDOG_USEC, for this process only; null when there is no watchdog. */
function watchdogInterval(usec: string | undefined, pid: string | undefined, self: number, log: Logger): number | null {
  if (usec === undefined || usec === '') return null;
  if (pid !== undefined && pid !== '' && pid !== String(self)) {
    log.debug('the systemd watchdog is meant for another process', { watchdogPid: pid });
    return null;
  }
  if (!/^\d{1,15}$/.test(usec) || Number(usec) === 0) {
    log.warn('WATCHDOG_USEC is not a positive number of microseconds; not feeding the systemd watchdog', { value: usec.slice(0, 40) });
    return null;
  }
  return Math.max(1, Math.floor(Number(usec) / 2000));
}

/** The addon's sdNotify, loaded on first use; a missing addon fails each send (logged once). */
function addonSend(log: Logger): SendNotification {
  let send: SendNotification | null = null;
  return (socket, message) => {
    if (!send) {
      const addon = loadAddon();
      send = (s, m) => addon.sdNotify(s, m);
      log.debug('systemd notifications go through the media engine addon');
    }
    send(socket, message);
  };
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** One line for `systemctl status`: faults first, then what the box is doing. */
export function describeStatus(s: Readonly<StatusSnapshot>): string {
  if (!s.ready) return `starting (database ${s.database}, media ${s.media}, sip ${s.sip})`;
  const faults: string[] = [];
  if (s.database === 'down') faults.push('database unreachable');
  if (s.media === 'down') faults.push('media engine down');
  else if (s.mediaOverrun) faults.push('media engine missed ticks');
  if (s.diskFull) faults.push('data disk nearly full');
  const doing = [
    plural(s.activeConferences, 'conference'),
    plural(s.registeredExtensions, 'registered phone'),
    plural(s.trustedPeers, 'trusted peer'),
  ].join(', ');
  return faults.length ? `fault: ${faults.join(', ')}; ${doing}` : `ready; ${doing}`;
}
