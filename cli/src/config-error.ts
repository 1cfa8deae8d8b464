/** Input the user gave that cannot be used (a flag, a file): reported as invalid input, exit 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
}
