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
    const s = this.sipStatus;
    if (s === 484) return 400;
    if (s === 486) return 409;
    if (s === 403) return this.code === 'exists' ? 409 : 403;
    if ([400, 401, 404, 405, 409, 413, 415, 422, 429, 503, 507].includes(s)) return s;
    return s >= 500 ? 500 : 400;
  }
}

/** The database cannot be reached right now. */
export class StoreUnavailable extends Error {
  constructor(cause?: unknown) {
    super('the database is unreachable', { cause });
    this.name = 'StoreUnavailable';
  }
}
