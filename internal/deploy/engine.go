package deploy

import (
	"context"
	"io"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/fingerprint"
	"github.com/dockerbank/dockerbank/internal/stack"
)

// Engine is what the lifecycle jobs use of a container engine, in the
// groups below. *engine.Engine implements it against Docker or Podman;
// internal/enginetest implements it in memory, for unit tests of the
// decisions (refusals, rollbacks) without an engine.
type Engine interface {
	Projects
	Containers
	Volumes
	Images
	Stacks
	// fingerprint.Engine computes an instance's fingerprint (upgrade).
	fingerprint.Engine
}

// Projects runs compose projects.
type Projects interface {
	LoadProject(ctx context.Context, o engine.LoadOptions) (*types.Project, error)
	// Up creates or converges the project's containers and volumes; with
	// o.Wait it returns an error unless every service runs (healthy where
	// it has a health check) within o.WaitTimeout.
	Up(ctx context.Context, p *types.Project, o engine.UpOptions) error
	// Recreate is Up with every container created anew.
	Recreate(ctx context.Context, p *types.Project, o engine.UpOptions) error
	Stop(ctx context.Context, p *types.Project, timeout time.Duration) error
	Restart(ctx context.Context, p *types.Project, timeout time.Duration) error
	// Down removes the project's containers and networks, never volumes.
	Down(ctx context.Context, project string, timeout time.Duration) error
}

// Containers reads and drives single containers.
type Containers interface {
	// Containers lists the containers whose labels match all of labels.
	Containers(ctx context.Context, labels map[string]string) ([]engine.Container, error)
	RemoveContainer(ctx context.Context, id string) error
	ExecOutput(ctx context.Context, id string, cmd ...string) (string, error)
	Logs(ctx context.Context, id string, o engine.LogsOptions, stdout, stderr io.Writer) error
	// Health reads the container's run state and its last health probes.
	Health(ctx context.Context, id string) (engine.HealthState, error)
	CreateHelper(ctx context.Context, o engine.HelperOptions) (string, error)
	CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error)
}

// Volumes lists and removes volumes.
type Volumes interface {
	Volumes(ctx context.Context, withSize bool) ([]engine.Volume, error)
	RemoveVolume(ctx context.Context, name string) error
	// ImageVolumes lists the VOLUME paths an image declares.
	ImageVolumes(ctx context.Context, ref string) ([]string, error)
	// ProbeVolume creates a throwaway volume with a driver and options,
	// mounts it in a throwaway container running a script, and removes
	// both; a mount that fails is an *engine.ProbeError with Mount set.
	ProbeVolume(ctx context.Context, o engine.ProbeOptions) error
}

// Images checks and builds images.
type Images interface {
	ImageExists(ctx context.Context, ref string) (bool, error)
	ImageLabels(ctx context.Context, ref string) (map[string]string, error)
	BuildImage(ctx context.Context, buildContext io.Reader, o engine.BuildOptions) error
}

// Stacks runs instances as swarm stacks.
type Stacks interface {
	// StackApply deploys or updates a stack to what the plan says.
	StackApply(ctx context.Context, plan *stack.Plan) error
	StackRemove(ctx context.Context, stack string) error
	StackScale(ctx context.Context, stack string, replicas uint64) error
	StackCurrent(ctx context.Context, stack string) (map[string][]string, error)
}

var _ Engine = (*engine.Engine)(nil)
