// Package web is dockerbank's HTTP face: /healthz, /metrics (Prometheus,
// an own registry), and the dashboard (server-rendered html/template, no
// external assets) with its login, sessions, CSRF protection and actions.
//
// It reads state through observe (the collector) and site, and runs actions
// through the small Actions interface it declares; it must not import cli
// or talk to the engine itself.
package web
