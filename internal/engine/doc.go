// Package engine is the only package that talks to a container engine: it
// imports the Docker SDK (github.com/moby/moby/client) and the compose engine
// (github.com/docker/compose/v5) and offers the jobs small, documented
// operations on projects, containers, volumes and images.
//
// It knows nothing of banks, sites or instances beyond label names
// (internal/instance/label). It reports progress as internal/progress
// events, and imports no other internal package but stack, whose pure
// plans it applies (StackApply): the policy of a swarm deploy lives there,
// this package only converts a plan to API calls.
package engine
