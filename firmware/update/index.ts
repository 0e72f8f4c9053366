export { Rauc, RaucError, parseStatus, type RaucStatus, type Slot } from './rauc.ts';
export { MAX_BUNDLE_BYTES, RESTART_NOTICE_MS, Updater, idleUpdate, type UpdatePhase, type UpdateView } from './updater.ts';
export { ControlSocket, controlSocketPath, updateThroughBox } from './control-socket.ts';
