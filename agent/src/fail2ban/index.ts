export { Config, Fail2banConfigError, parseIni, substituteTags, type FileReader } from "./config.js";
export { conformLog, importedFilters, type LogResult } from "./conformance.js";
export { dateTemplates, findDate, dateTime } from "./date.js";
export { compileFail2ban, type FilterMatch, type FilterSpec } from "./engine.js";
export { parseFilterSpec, readFilter, type Fail2banFilter } from "./filter-reader.js";
export { fail2banSeconds, importFail2ban, readJailConfig, type DirLister, type Fail2banImport, type ImportedJail, type ImportNote } from "./jail-reader.js";
export { fail2banManifests, manifestInputs, type ManifestOptions } from "./manifests.js";
export { requiredLiterals } from "./literals.js";
export { translateRegex, UntranslatableRegex, unrollCounted, expandTags } from "./regex.js";
