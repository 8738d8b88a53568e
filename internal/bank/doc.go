// Package bank is the model of the Dockerbank catalogue: entries (entry.yaml
// plus compose files carrying x-dockerbank extensions), their validation with
// every problem reported at file:line, and banks made of several sources (the
// embedded default bank and directories a site adds).
//
// It reads compose files with compose-go (the compose-spec model and loader)
// and runs the host-exposure rules of internal/lint on them (pure, the same
// code as `dockerbank lint`); it must not import internal/engine, the Docker
// SDK or the compose engine.
package bank
