// Package observe watches instances: the debug views (logs multiplexed over
// an instance's services, inspect with secrets redacted, stats), the metrics
// collector that reads cgroup files (or the engine's stats API for remote
// engines) and exposes them under cAdvisor's names, the alert rules, and the
// GELF log shipper.
//
// It talks to the engine only through internal/engine, reads instance
// records and secrets through internal/site, and must not import cli or web.
// It never prints: views are values or writes to the io.Writer it is given.
package observe
