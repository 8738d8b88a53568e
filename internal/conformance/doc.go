// Package conformance runs `dockerbank bank test`: a conformance run of a
// bank entry on this site's engine, before a site trusts it. It deploys a
// throwaway instance in a throwaway site, writes data through the
// application's own interface (the entry's test: declaration), backs it
// up, restores it into a new instance and compares fingerprints, upgrades
// from the previous version where that one runs here, and removes
// everything it created. Every step is timed.
//
// It uses internal/deploy, internal/backup, internal/fingerprint,
// internal/bank, internal/site and internal/engine; it must not import
// internal/cli.
package conformance
