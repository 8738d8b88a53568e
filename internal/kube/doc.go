// Package kube renders a compose project of a bank entry or an instance as
// Kubernetes objects (typed values of k8s.io/api), as a directory of YAML
// files or as a Helm chart.
//
// It is pure: it takes a compose-go project and dockerbank's model of it and
// returns objects and files. It must not import internal/engine, the Docker
// SDK or the compose engine; it imports internal/bank for the model only.
//
// Every compose key it cannot express is an error naming the key and the
// service (see Keys and docs/kube.md); with Options.Lossy it is a warning.
package kube
