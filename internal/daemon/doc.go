// Package daemon is `dockerbank serve` as a long-running process: it wires
// the metrics collectors (the site's engine and further ones), the alert
// evaluator and its notifiers, the GELF log shipper, the image auditor,
// the healer, the HTTP server of package web with the dashboard's actions,
// and the Scheduler of each instance's backups, retention, off-site copies
// and restore drills. Daemon.Run runs them all on one errgroup and returns
// only once every goroutine it started has ended.
//
// Stopping: when Run's context ends (cli cancels it on SIGTERM or SIGINT),
// the HTTP server stops accepting connections and the scheduler starts no
// further job; a job already running (a scheduled backup, drill, copy or
// retention run, a dashboard user's backup or restart, the healer's
// current look with its restart or recreate) may finish within
// Options.StopGrace, after which its context ends too: the backup job then starts the containers
// it quiesced again and leaves its group incomplete (no manifest), as any
// cancelled backup does. Either way no container is left stopped.
//
// The options arrive parsed and checked: cli owns the flags, reads the
// secret files and prints the warnings. This package runs the jobs
// (deploy, backup, heal, observe) and the web server; it must not import
// cli or cobra, and it never prints: it reports through progress.Reporter
// and logs through the slog.Logger it is given.
package daemon
