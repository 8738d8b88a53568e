// Package stack renders a compose project as a Docker Swarm stack plan:
// the overlay networks, named volumes, swarm secrets and replicated
// services `docker stack deploy` would create, with dockerbank's policy
// applied (services resolved by DNS round robin unless the compose file
// asks for a virtual IP, published ports bound on the task's host, the
// compose project labels on services, containers and volumes so that the
// jobs find them). Render collects every refusal (a key swarm cannot run,
// a file secret, an unknown reference) instead of stopping at the first.
//
// It is pure: it takes a compose-go project and returns a Plan, a value
// that internal/engine applies (engine.StackApply) and that prints as
// text for golden tests. It must not import internal/engine, the Docker
// SDK or the compose engine; the engine converts the plan to its API types.
package stack
