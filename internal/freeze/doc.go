// Package freeze turns a running service container of an instance into a
// `docker save` archive (`dockerbank freeze`): commit (the container paused
// for the commit only), audit of the new top layer with the image audit's
// data and secret detectors, then the archive, or a refusal that names what
// the layer holds.
//
// It consumes the engine through its own small interface (Engine), records
// every freeze in the site journal through Journal, and must not import cli,
// deploy, backup or observe. It never prints; progress goes to a reporter.
package freeze
