// Package deploy is the operate job: it renders bank entries into instances
// of a site and drives their lifecycle on an engine (deploy, start, stop,
// restart, down, upgrade with automatic rollback, rollback, rm, volumes, gc).
// It never deletes a userdata volume unless the user asked for exactly that.
//
// It reaches the engine only through the Engine interface it declares
// (engine.go), which *engine.Engine implements and internal/enginetest
// fakes for unit tests of its decisions; it imports internal/engine for
// the types of that interface. It must not import internal/cli or any job
// built on it (backup, dr, conformance). docs/architecture.md lists what
// it may import.
//
// It reports progress through a progress.Reporter and never prints.
package deploy
