import { BoxError } from '../../firmware/errors.ts';

/** The BoxError a call refuses with; anything else it throws goes on, and taking the input is an error naming `what`. */
export function refusal(fn: () => unknown, what = 'the input'): BoxError {
  try {
    fn();
  } catch (e) {
    if (e instanceof BoxError) return e;
    throw e;
  }
  throw new Error(`expected a refusal of ${what}, but it was taken`);
}
