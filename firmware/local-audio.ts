/**
 * The box's own microphone and speaker as one participant of a room, like a speakerphone in the meeting room
 * (SPEC.md sections 4 and 6). The audio itself is a local leg of the media engine (ALSA capture and playback on the
 * engine's side); this module decides when that leg exists and which conference it is in, and publishes its state.
 *
 * - The setting localAudioRoom names the room; the devices come from the settings localAudioCapture/Playback, else
 *   from the board profile. Without a room the devices stay closed (off); without devices local audio is
 *   unavailable, and the box runs on without it.
 * - The leg joins the room's conference when one is in progress and its devices work. It counts as a participant
 *   (the room's limit applies), but it never keeps a conference alive alone: when the last caller leaves, it
 *   leaves too, so the conference ends and the room is deleted as SPEC.md section 1 says.
 * - A device that fails or disappears (a USB card unplugged) is reported and reopened by the engine with back-off;
 *   meanwhile the leg is out of the conference (callers alone hear waiting music again) and rejoins when it is back.
 */
import { ECHO_DEFAULT, type AudioDevices } from './hw/index.ts';
import { checkAlsaDevice, type Conference, type Participant, type Settings } from './conference/index.ts';
import { BoxError } from './errors.ts';
import type { Logger } from './log.ts';
import type { LocalAudioState, LocalDevices, MediaEngine } from './media/index.ts';
import type { LocalAudioHealth, Status } from './status.ts';

/** The local leg's place in a conference's participants. */
export const LOCAL_PARTICIPANT: Omit<Participant, 'joinedAt' | 'muted'> = Object.freeze({
  id: 'local-audio',
  caller: 'local',
  displayName: 'room microphone and speaker',
  source: 'local',
});

/** What local audio needs of the room service (firmware/rooms.ts). */
export interface LocalAudioRooms {
  readonly conferences: {
    inRoom(roomId: number): Conference | undefined;
    get(key: string): Conference | undefined;
    setMuted(key: string, participantId: string, muted: boolean): boolean;
  };
  settings(): Settings;
  joinLocal(roomId: number, who: Omit<Participant, 'joinedAt' | 'muted'>): Conference;
  leave(conf: Conference, participantId: string, caller: string, source: string, answered?: boolean): void;
}

export interface LocalAudioOptions {
  engine: MediaEngine;
  rooms: LocalAudioRooms;
  status: Status;
  log: Logger;
  /** The board profile: its name and ALSA devices (null on a board without a sound card). */
  board: { name: string; audio: AudioDevices | null };
  /** What the others in the conference hear when the local participant comes and goes (firmware/calls/). */
  announce: { joined(conf: Conference): void; left(conf: Conference): void };
  /** How often the settings are looked at, ms [1000]; 0: only on refresh(). */
  pollMs?: number;
  /** The engine's reopening back-off for failed devices [1000, 30000 ms]. */
  retryMinMs?: number;
  retryMaxMs?: number;
}

interface Leg {
  id: number;
  devices: LocalDevices;
  state: LocalAudioState;
  message: string;
}

export class LocalAudio {
  private leg: Leg | null = null;
  private conf: Conference | null = null;
  /** Conferences seen so far, and those that just started: the first caller's own answer announces the join then. */
  private readonly seen = new Set<string>();
  private readonly starting = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private scheduled = false;
  private stopped = false;
  private blocked = '';
  private published = '';
  private retriesLogged = 0;

  constructor(private readonly o: LocalAudioOptions) {}

  start(): void {
    this.o.engine.events.on('localAudio', this.onDevice);
    if (this.o.pollMs !== 0) {
      this.timer = setInterval(() => this.refresh(), this.o.pollMs ?? 1000);
      this.timer.unref();
    }
    this.refresh();
  }

  /** Leaves the conference quietly (the box is shutting down) and closes the devices. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.o.engine.events.off('localAudio', this.onDevice);
    if (this.conf) this.leave(false);
    this.closeLeg();
  }

  /** A conference started, changed or ended (RoomService's changed event). */
  conferenceChanged(conf: Conference): void {
    if (!this.o.rooms.conferences.get(conf.key)) {
      this.seen.delete(conf.key);
    } else if (!this.seen.has(conf.key)) {
      this.seen.add(conf.key);
      this.starting.add(conf.key);
    }
    this.schedule();
  }

  /** Mutes or unmutes the room microphone (the web page); false when it is in no conference. */
  setMuted(muted: boolean): boolean {
    if (!this.conf || !this.leg) return false;
    this.o.rooms.conferences.setMuted(this.conf.key, LOCAL_PARTICIPANT.id, muted);
    this.o.engine.setMuted(this.leg.id, muted);
    this.o.log.info(muted ? 'room microphone muted' : 'room microphone unmuted', { room: this.conf.roomId });
    return true;
  }

  /** Looks at the settings, the devices and the room again (also every pollMs). */
  refresh(): void {
    if (this.stopped) return;
    try {
      this.reconcile();
    } catch (e) {
      this.o.log.error('local audio failed', { err: e });
    }
    this.starting.clear();
  }

  private readonly onDevice = (leg: number, state: LocalAudioState): void => {
    if (!this.leg || leg !== this.leg.id) return;
    this.leg.state = state;
    try {
      const st = this.o.engine.localStatus(leg);
      const echo = state !== 'ok' || !this.leg.devices.echo || !this.leg.devices.capture || !this.leg.devices.playback ? ''
        : st.echoCancel ? '; echo cancelled' : `; echo not cancelled: ${st.echoUnavailable || 'unavailable'}`;
      this.leg.message = st.message + echo;
    } catch {
      // closed meanwhile: the next refresh sees it
    }
    this.schedule();
  };

  /** Changes are looked at once the code that made them (a join, a hang-up) has finished. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.refresh();
    });
  }

  private reconcile(): void {
    const settings = this.o.rooms.settings();
    const room = settings.localAudioRoom || null;
    const devices = this.devices(settings);
    if (!devices || !room) {
      if (this.conf) this.leave(true);
      this.closeLeg();
      if (!devices && !room) {
        // Nothing asks for local audio: a box without a sound card is not at fault.
        this.publish('off', 'no sound card (local audio not used)', null);
      } else if (!devices) {
        this.publish('unavailable', `no sound card: the board profile "${this.o.board.name}" names no ALSA devices (settings localAudioCapture and localAudioPlayback can)`, room);
      } else {
        this.publish('off', 'not attached to a room (setting localAudioRoom)', null);
      }
      return;
    }
    if (this.leg && !sameDevices(this.leg.devices, devices)) {
      if (this.conf) this.leave(true);
      this.closeLeg();
    }
    if (!this.leg && !this.openLeg(devices, room)) return;
    const leg = this.leg!;

    if (this.conf) {
      const conf = this.conf;
      if (!this.o.rooms.conferences.get(conf.key)) {
        this.conf = null;
        this.o.engine.leaveConference(leg.id);
      } else if (conf.participants.size <= 1) {
        this.leave(false); // the others have all left: the conference ends with it
      } else if (leg.state !== 'ok' || conf.roomId !== room) {
        this.leave(true);
      }
    }
    if (this.conf) this.blocked = '';
    else if (leg.state === 'ok') this.join(room);

    if (leg.state === 'ok') this.publish('ok', leg.message + (this.blocked ? `; ${this.blocked}` : ''), room);
    else if (leg.state === 'unavailable') this.publish('unavailable', leg.message, room);
    this.logRetries(leg);
  }

  /** The engine reopens failed devices with back-off: each attempt is worth a debug line. */
  private logRetries(leg: Leg): void {
    if (leg.state !== 'unavailable') {
      this.retriesLogged = 0;
      return;
    }
    const st = this.o.engine.localStatus(leg.id);
    if (st.attempts === this.retriesLogged) return;
    this.retriesLogged = st.attempts;
    this.o.log.debug('local audio devices tried again', { attempts: st.attempts, nextInMs: st.retryInMs, reason: st.message });
  }

  /** The settings' devices, else the board profile's; null when neither names one. */
  private devices(settings: Settings): LocalDevices | null {
    const capture = settings.localAudioCapture || this.o.board.audio?.capture || '';
    const playback = settings.localAudioPlayback || this.o.board.audio?.playback || '';
    if (!capture && !playback) return null;
    const d: LocalDevices = {};
    if (capture) d.capture = capture;
    if (playback) d.playback = playback;
    if (this.o.retryMinMs !== undefined) d.retryMinMs = this.o.retryMinMs;
    if (this.o.retryMaxMs !== undefined) d.retryMaxMs = this.o.retryMaxMs;
    // The speaker heard by the microphone would be the callers' own voices coming back: cancelled unless the profile says not.
    const echo = this.o.board.audio ? this.o.board.audio.echo : ECHO_DEFAULT;
    if (capture && playback && echo) d.echo = { ...echo };
    return d;
  }

  private openLeg(devices: LocalDevices, room: number): boolean {
    const refused = this.refusedDevice(devices);
    if (refused) {
      this.publish('unavailable', refused, room);
      return false;
    }
    try {
      const id = this.o.engine.openLocalLeg(devices);
      this.leg = { id, devices, state: 'opening', message: 'opening the devices' };
      this.o.log.info('local audio opening its devices', { room, capture: devices.capture ?? null, playback: devices.playback ?? null });
      return true;
    } catch (e) {
      this.publish('unavailable', `the devices cannot be used: ${e instanceof Error ? e.message : String(e)}`, room);
      return false;
    }
  }

  /**
   * A stored device setting that is not a sound device of this box (written before the box checked
   * them, or straight into a shared database) never reaches ALSA; the board profile's own names do.
   */
  private refusedDevice(devices: LocalDevices): string | null {
    const settings = this.o.rooms.settings();
    const asked: Array<[string, string]> = [['localAudioCapture', settings.localAudioCapture], ['localAudioPlayback', settings.localAudioPlayback]];
    const used = [devices.capture, devices.playback];
    const check = asked.filter(([, v]) => v !== '' && used.includes(v));
    if (check.length === 0) {
      this.refusal = null;
      return null;
    }
    const key = check.map(([, v]) => v).join('\n');
    if (this.refusal?.key === key) return this.refusal.message;
    let listed: string[] | null = null;
    for (const [name, value] of check) {
      try {
        checkAlsaDevice(name, value, listed ??= this.o.engine.alsaDevices());
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        this.o.log.warn('local audio device refused', { setting: name, device: value.slice(0, 64) });
        this.refusal = { key, message };
        return message;
      }
    }
    this.refusal = null;
    return null;
  }

  private refusal: { key: string; message: string } | null = null;

  private closeLeg(): void {
    if (!this.leg) return;
    this.o.engine.closeLeg(this.leg.id);
    this.leg = null;
  }

  private join(room: number): void {
    const conf = this.o.rooms.conferences.inRoom(room);
    if (!conf || conf.participants.size === 0) {
      this.blocked = '';
      return;
    }
    try {
      this.o.rooms.joinLocal(room, LOCAL_PARTICIPANT);
    } catch (e) {
      if (!(e instanceof BoxError)) throw e;
      if (this.blocked !== e.message) this.o.log.warn('local audio cannot join the conference', { room, reason: e.message });
      this.blocked = e.message;
      return;
    }
    this.blocked = '';
    this.conf = conf;
    this.o.engine.joinConference(this.leg!.id, conf.key);
    this.o.log.info('local audio joined the conference', { room, participants: conf.participants.size });
    // At a conference's start the first caller's own answer plays the join tone; later, the others need to hear it.
    if (!this.starting.has(conf.key)) this.o.announce.joined(conf);
  }

  /** Out of the conference; the others hear the leave tone unless it ends (or the box stops). */
  private leave(announce: boolean): void {
    const conf = this.conf!;
    this.conf = null;
    if (this.leg) this.o.engine.leaveConference(this.leg.id);
    this.o.rooms.leave(conf, LOCAL_PARTICIPANT.id, LOCAL_PARTICIPANT.caller, LOCAL_PARTICIPANT.source, true);
    const continues = !!this.o.rooms.conferences.get(conf.key);
    this.o.log.info('local audio left the conference', { room: conf.roomId, participants: conf.participants.size, ended: !continues });
    if (announce && continues) this.o.announce.left(conf);
  }

  private publish(health: LocalAudioHealth, reason: string, room: number | null): void {
    const inConference = this.conf !== null;
    this.o.status.set({ localAudio: health, localAudioReason: reason, localAudioRoom: room, localAudioInConference: inConference });
    const key = `${health}\n${reason}\n${room}`;
    if (key === this.published) return;
    this.published = key;
    if (health === 'ok') this.o.log.info('local audio ready', { room, devices: reason });
    else if (health === 'off') this.o.log.info('local audio off', { reason });
    // Without a room attached, a missing sound card is a fact of the board, not a fault.
    else this.o.log[room === null ? 'info' : 'warn']('local audio unavailable; the box runs without it', { room, reason });
  }
}

function sameDevices(a: LocalDevices, b: LocalDevices): boolean {
  return a.capture === b.capture && a.playback === b.playback && JSON.stringify(a.echo) === JSON.stringify(b.echo);
}
