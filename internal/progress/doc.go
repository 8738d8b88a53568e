// Package progress is the one channel long work reports through: the
// Event type (structured: phase, instance, service, volume, bytes done and
// total, a message) and the Reporter interface that deploy, dr, backup and
// the engine adapter send events to. The core never renders progress:
// internal/cli turns events into text lines, bars, or (with --json) JSON
// lines on standard error.
//
// It also holds Bytes, the one formatter of byte counts for people, for
// the few texts the core owns (journal details, error messages) and for
// every renderer.
//
// It imports only the standard library, so that every package, the
// engine adapter included, may import it.
package progress
