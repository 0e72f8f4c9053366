export type { Engine, EngineEvents, EngineStats, LegOptions, SrtpKeys, TalkState } from './engine.ts';
export type {
  MediaEngine, MediaEngineEvents, MediaLegOptions, PlayTarget, PlayOptions, LegStats, MediaEngineStats, LocalDevices, LocalAudioState,
  LocalAudioStatus, SrtpStatus,
} from './native-engine.ts';
export { NativeEngine, EngineError, findAddon, loadAddon, portPairs } from './native-engine.ts';
