// Package engine is the only package that talks to a container engine: it
// imports the Docker SDK (github.com/moby/moby/client) and the compose engine
// (github.com/docker/compose/v5) and offers the jobs small, documented
// operations on projects, containers, volumes and images.
//
// It knows nothing of banks, sites or instances beyond label names. It
// reports progress as internal/progress events and must not import any
// other internal package.
package engine
