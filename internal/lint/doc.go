// Package lint checks compose files against operating practice and security
// rules for biomedical applications run with Docker.
//
// It reads compose files the way compose does (compose-go: .env, override
// files, extends, profiles, interpolation) and also keeps the raw YAML node
// tree of every file, so that each finding points at the file:line:col of
// the key it is about. It knows the dockerbank extension `x-dockerbank` on
// services and top-level volumes. Suppressions come from a YAML file; every
// suppression needs a reason and may expire. Reports render as text, JSON
// and SARIF 2.1.0.
//
// Severities, the SARIF model and writer, and when a suppression expires
// are shared with internal/audit through internal/finding.
//
// lint is pure: it reads files and returns values. It must not import
// internal/engine, internal/cli, the Docker SDK or the compose engine, and
// it never prints.
package lint
