// Package backup protects the user data of instances: app-aware backup
// groups (database dumps made inside the database container, file volumes
// read through the archive API or the volume's host mountpoint) stored in a
// restic repository, restore (also into a new instance), restore drills,
// retention and self-contained archives for air-gapped handover.
//
// A backup observes the instance, plans the group with the pure PlanGroup
// (plan.go: which dumps, which file captures, which containers to quiesce,
// in what order; golden files in testdata/plan) and applies the plan
// (backup.go); each file capture mode has its file (capture_dir.go,
// capture_tar.go), dumps are in capture_dump.go. Containers it stops or
// pauses are written to the site journal before they are touched, so that
// Resume (run by the next dockerbank command) starts them again after a
// crash. It never prints: progress goes to the manager's progress.Reporter
// as numbers, the CLI renders them.
//
// It uses internal/engine, internal/deploy, internal/bank, internal/site
// and internal/progress; it must not import internal/cli.
package backup
