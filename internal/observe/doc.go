// Package observe watches instances: the debug views (logs multiplexed over
// an instance's services, inspect with secrets redacted, stats), the metrics
// collector that reads cgroup files (or the engine's stats API for remote
// engines) and exposes them under cAdvisor's names, the alert rules, the
// GELF log shipper and the auditor that runs the audit job on the watched
// images. (The scheduler of backups and restore drills is serve's: it lives
// in internal/daemon.)
//
// It talks to the engine only through internal/engine, reads instance
// records and secrets through internal/site, and must not import cli, web,
// daemon or backup.
// It never prints: views are values or writes to the io.Writer it is given.
package observe
