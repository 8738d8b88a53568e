// Package dr is the disaster-recovery job: it exports a site into one
// bundle file (instance records, rendered compose projects, parameters,
// the bank entries they were deployed from, image references with digests,
// how to rebuild local images, the backup repository location, a runbook,
// and the secrets encrypted with age), restores a whole site from such a
// bundle and its backup repository onto an empty engine in dependency
// order, and drills that restore into throwaway instances.
//
// The bundle format, the recovery plan and the runbook are pure (values in,
// values out). It uses internal/backup to restore backup groups, and
// internal/deploy, internal/bank, internal/site and internal/engine, and
// reports progress through internal/progress; it must not import
// internal/cli.
package dr
