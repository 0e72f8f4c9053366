/**
 * Open server-sent event streams and what each one is for: the live view's and the integration stream's. A stream is
 * answered with the event-stream headers and a first event, kept until either side closes it, and never times out.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export class EventStreams<T> {
  private readonly streams = new Map<ServerResponse, T>();

  constructor(private readonly max: number, private readonly headers: Record<string, string>) {}

  /** No room for another stream: the client is told to come back later. */
  get full(): boolean {
    return this.streams.size >= this.max;
  }

  get size(): number {
    return this.streams.size;
  }

  /** Answers rq with an event stream that begins with `first`, kept with its state until it closes. */
  open(rq: IncomingMessage, res: ServerResponse, state: T, first: string): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no', ...this.headers });
    // HEAD asks for the headers alone: a stream without a body would never send them, and hold its place for ever.
    if (rq.method === 'HEAD') return void res.end();
    res.write(`retry: 2000\n\n${first}`);
    this.streams.set(res, state);
    rq.socket.setTimeout(0);
    const drop = () => this.streams.delete(res);
    res.once('close', drop);
    rq.once('close', drop);
  }

  entries(): IterableIterator<[ServerResponse, T]> {
    return this.streams.entries();
  }

  /** Sends the same text on every stream. */
  writeAll(text: string): void {
    for (const res of this.streams.keys()) res.write(text);
  }

  /** Ends the streams whose state matches (all, without a test). */
  end(which: (state: T) => boolean = () => true): void {
    for (const [res, state] of [...this.streams]) {
      if (!which(state)) continue;
      this.streams.delete(res);
      res.end();
    }
  }
}
