// Package instance is the instance model in one place: what every job
// knows about an instance besides its site record (internal/site).
//
//   - its vocabulary: the labels dockerbank writes (subpackage label,
//     importable by the engine and the pure renderers);
//   - its status and health, as its containers show them (Status);
//   - where its rendered project is and how it loads with its secrets
//     (RenderedFile, Rendered).
//
// Which version, variant and parameters an instance runs is resolved by
// the entry it comes from (bank.Entry.Resolve, typed errors
// bank.ErrNoVersion, ErrNoVariant, ErrNoParameter), because the pure kube
// export resolves entries too and must not import this package's engine
// types.
//
// It imports bank, site and engine (for engine.Container); it must not
// import deploy, backup, dr, observe or cli, which build on it.
package instance
