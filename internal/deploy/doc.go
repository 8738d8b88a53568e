// Package deploy is the operate job: it renders bank entries into instances
// of a site and drives their lifecycle on an engine (deploy, start, stop,
// restart, down, upgrade with automatic rollback, rollback, rm, volumes, gc).
// It never deletes a userdata volume unless the user asked for exactly that.
//
// It reports progress through a progress.Reporter and never prints.
//
// It depends on internal/bank, internal/site, internal/engine and
// internal/progress; it must not import internal/cli.
package deploy
