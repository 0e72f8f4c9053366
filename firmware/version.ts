declare const CONFBOX_VERSION: string | undefined;

/** The firmware's version, as the build stamps it (package.json); "dev" when run from the sources. */
export const VERSION = typeof CONFBOX_VERSION === 'string' ? CONFBOX_VERSION : 'dev';
