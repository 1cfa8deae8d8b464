/** Commander's argument parser for a repeatable flag: each use adds its value to the list. */
export const collect = (value: string, prev: string[] = []): string[] => [...prev, value];
