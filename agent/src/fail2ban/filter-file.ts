// What `fleetwall jail test --filter-file` needs to read and translate one fail2ban filter, without
// the importer's manifests (which load the API's zod schemas): jail test's start-up is benchmarked.
export { readFilter, type Fail2banFilter } from "./filter-reader.js";
export { translatableFilter, type LeftOut } from "./translatable.js";
