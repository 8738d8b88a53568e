// Package deploy is the operate job: it renders bank entries into instances
// of a site and drives their lifecycle on an engine (deploy, start, stop,
// restart, down, upgrade with automatic rollback, rollback, rm, volumes, gc).
// It never deletes a userdata volume unless the user asked for exactly that.
//
// It depends on internal/bank, internal/site and internal/engine; it must not
// import internal/cli.
package deploy
