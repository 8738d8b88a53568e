// Package label is the vocabulary dockerbank writes on what it creates:
// the labels on containers, volumes, images and Kubernetes objects, and the
// annotations on Kubernetes objects. It is the one place these keys are
// spelled (a test in internal/instance fails on any "org.dockerbank." text
// in Go code outside internal/instance), so a reader finds them all here
// and a rename cannot miss a copy.
//
// It imports nothing, so every package may import it, the engine and the
// pure renderers (kube, stack) included.
package label

// Prefix starts every key dockerbank owns.
const Prefix = "org.dockerbank."

// Labels on the containers and volumes of an instance (and, rendered by
// kube, on its Kubernetes objects).
const (
	// Site is the identifier of the site that owns the object.
	Site = Prefix + "site"
	// Instance is the instance name.
	Instance = Prefix + "instance"
	// Entry and Version are the bank entry and its version the instance runs.
	Entry   = Prefix + "entry"
	Version = Prefix + "version"
	// Role is the service's role in the entry (app, db, ...).
	Role = Prefix + "role"
	// Service is the compose service a Kubernetes object was rendered from.
	Service = Prefix + "service"
	// Volume is the compose volume name; Class its class (userdata, ...);
	// Backup how it is backed up (dump, files, none).
	Volume = Prefix + "volume"
	Class  = Prefix + "class"
	Backup = Prefix + "backup"
	// Helper marks the short-lived helper containers of a backup or
	// restore, with the instance as value.
	Helper = Instance + ".helper"
	// Debug marks the throwaway container of `dockerbank debug`, with the
	// instance as value (not Instance: it is no service of the instance).
	Debug = Instance + ".debug"
	// NetworkPrefix followed by a compose network name marks the pods
	// attached to it (kube network policies).
	NetworkPrefix = Prefix + "network."
	// Secret names the compose secret a Kubernetes Secret holds.
	Secret = Prefix + "secret"
	// StoppedReplicas records on a swarm service the replica count it had
	// before dockerbank scaled it to zero, so starting it restores it.
	StoppedReplicas = Prefix + "stopped-replicas"
	// Replicas is, on the containers of a service scaled by `dockerbank
	// scale`, how many replicas the instance runs of it; each replica's
	// number is compose's container-number label (engine.LabelNumber).
	Replicas = Prefix + "replicas"
	// ProxyFor marks the proxy service dockerbank renders in front of the
	// replicas of scaled services, with their names (comma-separated).
	ProxyFor = Prefix + "proxy-for"
	// ConfigSHA256 is, on the proxy, the digest of the configuration
	// rendered for it (a new one recreates the proxy).
	ConfigSHA256 = Prefix + "config-sha256"
)

// Labels on images built by dockerbank.
const (
	// Redistributable is "false" on images built from a licensee's source
	// (REDCap): push refuses them.
	Redistributable = Prefix + "redistributable"
	// Licence names the licence of the source the image was built from.
	Licence = Prefix + "licence"
	// SourceSHA256 and SourceVersion identify the user's source archive.
	SourceSHA256  = Prefix + "source.sha256"
	SourceVersion = Prefix + "source.version"
	// ContextSHA256 is the digest of a build context, to skip rebuilding.
	ContextSHA256 = Prefix + "context-sha256"
	// Recipe is the digest of the recipe scripts/images.sh built a local
	// image from (set by the script; read by tests).
	Recipe = Prefix + "recipe"
)

// Labels on images made by `dockerbank freeze`: what the image was frozen
// from and when.
const (
	FrozenInstance  = Prefix + "frozen.instance"
	FrozenService   = Prefix + "frozen.service"
	FrozenImage     = Prefix + "frozen.image"    // the image the container ran
	FrozenImageID   = Prefix + "frozen.image-id" // that image's ID
	FrozenContainer = Prefix + "frozen.container"
	FrozenAt        = Prefix + "frozen.at" // RFC 3339, UTC
	// FrozenAllowData holds the reason given with --allow-data; absent
	// when the top layer was audited clean.
	FrozenAllowData = Prefix + "frozen.allow-data"
)

// Annotations on Kubernetes objects rendered by kube.
const (
	// ComposeVolume names the compose volume a PersistentVolumeClaim holds.
	ComposeVolume = Prefix + "compose-volume"
	// Note explains to the reader a choice the rendering made.
	Note = Prefix + "note"
	// FillIn says how to fill in a Secret exported without its values.
	FillIn = Prefix + "fill-in"
)
