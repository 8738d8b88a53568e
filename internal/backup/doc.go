// Package backup protects the user data of instances: app-aware backup
// groups (database dumps made inside the database container, file volumes
// read through the archive API or the volume's host mountpoint) stored in a
// restic repository, restore (also into a new instance), restore drills,
// retention and self-contained archives for air-gapped handover.
//
// Containers it stops or pauses are written to the site journal before
// they are touched, so that Resume (run by the next dockerbank command)
// starts them again after a crash.
//
// It uses internal/engine, internal/deploy, internal/bank and internal/site;
// it must not import internal/cli.
package backup
