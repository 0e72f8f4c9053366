export * from './types.ts';
export * from './validate.ts';
export * from './feature-code.ts';
export * from './lockout.ts';
export * from './conferences.ts';
export * from './settings.ts';
