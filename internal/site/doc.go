// Package site keeps the desired state of one host in plain files: its
// instances (rendered compose project, parameters, generated secrets of
// mode 0600), the append-only operation journal, and the lock that keeps two
// dockerbank processes from changing the same site at once.
//
// It must not import internal/engine or any job package.
package site
