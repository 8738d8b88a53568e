// Package heal is serve's self-healing: it restarts a container that stays
// unhealthy (Policy.Failures failed checks in a row, or unhealthy for
// Policy.UnhealthyFor), with exponential backoff and a cap on attempts,
// recreates the whole instance when a restart does not help (mode
// recreate), restarts a service's dependants after it, and gives up with
// an alert when the attempts are used up. It never acts while another
// operation holds the site lock (a backup's quiesce, an upgrade) or while a
// backup's quiesce is unfinished.
//
// Decider is the pure part: observations and the time in, actions out.
// Healer reads the engine through a small consumer-side interface (Engine,
// Instances), acts, journals and counts. The heal mode of an instance
// (off, restart, recreate) is layered like the protect policy: entry <
// site default < site instance (schedule.ResolveHeal).
//
// It must not import cli or web.
package heal
