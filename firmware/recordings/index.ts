export { ConferenceRecorder, RecordingRefused, wavHeader, type RecordingInfo, type RecorderOptions } from './recorder.ts';
export { RecordingLibrary, type RecordingFile } from './library.ts';
