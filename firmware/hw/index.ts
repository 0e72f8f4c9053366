// The status LEDs and the board profile: the face of firmware/hw/.
export { ECHO_DEFAULT, LED_NAMES, ProfileError, detectBoard, listProfiles, loadProfile, parseProfile, profileDirs, resolveBoard } from './profile.ts';
export type { AudioDevices, BoardProfile, LedName, LedPin } from './profile.ts';
export { GpioUnavailable, MockLedDriver, RpioLedDriver, createLedDriver, loadRpio } from './leds.ts';
export type { LedChange, LedDriver, RpioModule } from './leds.ts';
export { FAULT_CODES, describePattern, faultCauses, ledPatterns, patternSteps } from './patterns.ts';
export type { FaultCause, LedInputs, LedPattern, LedPatterns } from './patterns.ts';
export { LedController, ledTest } from './led-controller.ts';
export type { LedStatusSource } from './led-controller.ts';
