export { ConferenceCalls, type CallControl, type ConferenceCallsOptions } from './conference-calls.ts';
