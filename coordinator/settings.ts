/**
 * Numeric settings from the environment, checked at start-up: a value that is not a number in range stops the
 * coordinator with a message naming the variable, rather than running with NaN (which would, for instance, audit
 * every job or none).
 */
export function numberSetting(env: NodeJS.ProcessEnv, name: string, fallback: number, range: { min: number; max: number; integer?: boolean }): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < range.min || value > range.max || (range.integer && !Number.isInteger(value)))
    throw new Error(`${name}=${raw} is not ${range.integer ? 'an integer' : 'a number'} from ${range.min} to ${range.max}`);
  return value;
}
