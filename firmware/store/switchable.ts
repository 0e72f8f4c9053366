import type { Store } from './types.ts';

/** The parts of a Store that are groups of calls (rooms, extensions, ...), as opposed to ping and close. */
type Part = Exclude<keyof Store, 'ping' | 'close'>;

/**
 * A Store whose database can be replaced while the box runs: each call goes to the database in use at the moment it
 * is made, so every part of the box that was handed this store follows a switch without being told.
 */
export class SwitchableStore implements Store {
  private current: Store;

  constructor(store: Store) {
    this.current = store;
  }

  /** The database calls go to now. */
  get inUse(): Store {
    return this.current;
  }

  /** Calls from now on go to `next`; returns the store they went to until now (the caller closes it). */
  replace(next: Store): Store {
    const before = this.current;
    this.current = next;
    return before;
  }

  readonly rooms = this.part('rooms');
  readonly extensions = this.part('extensions');
  readonly peers = this.part('peers');
  readonly settings = this.part('settings');
  readonly callLog = this.part('callLog');
  readonly live = this.part('live');
  readonly bindings = this.part('bindings');
  readonly blocks = this.part('blocks');
  readonly failureCounts = this.part('failureCounts');
  readonly admin = this.part('admin');
  readonly changes = this.part('changes');
  readonly configuration = this.part('configuration');

  ping(): Promise<boolean> {
    return this.current.ping();
  }

  close(): Promise<void> {
    return this.current.close();
  }

  /** A part whose every method is looked up on the current store when it is called. */
  private part<P extends Part>(name: P): Store[P] {
    return new Proxy({} as Store[P], {
      get: (_target, method) => {
        const part = this.current[name] as unknown as Record<PropertyKey, unknown>;
        const fn = part[method];
        return typeof fn === 'function' ? (...args: unknown[]) => (fn as (...a: unknown[]) => unknown).apply(part, args) : fn;
      },
    });
  }
}
