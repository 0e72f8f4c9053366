/** An error that carries the answer a user gets: a SIP status and, for the web, an HTTP status. */
export class BoxError extends Error {
  constructor(
    readonly sipStatus: number,
    message: string,
    readonly field?: string,
    readonly code: string = 'invalid',
  ) {
    super(message);
    this.name = 'BoxError';
  }

  get httpStatus(): number {
    switch (this.sipStatus) {
      case 404: return 404;
      case 403: return this.code === 'exists' ? 409 : 403;
      case 486: return 409;
      case 503: return 503;
      case 484: return 400;
      default: return this.sipStatus >= 500 ? 500 : 400;
    }
  }
}

/** The database cannot be reached right now. */
export class StoreUnavailable extends Error {
  constructor(cause?: unknown) {
    super('the database is unreachable', { cause });
    this.name = 'StoreUnavailable';
  }
}
