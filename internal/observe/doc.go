// Package observe watches instances: the debug views (logs multiplexed over
// an instance's services, inspect with secrets redacted, stats), the metrics
// collector that reads cgroup files (or the engine's stats API for remote
// engines) and exposes them under cAdvisor's names, the alert rules, the
// GELF log shipper, the auditor that runs the audit job on the watched
// images, and the scheduler of backups and restore drills (whose jobs it
// runs through the small ProtectJobs interface it declares).
//
// It talks to the engine only through internal/engine, reads instance
// records and secrets through internal/site, policies through
// internal/schedule, and must not import cli, web or backup.
// It never prints: views are values or writes to the io.Writer it is given.
package observe
