package stack

// Labels the plan sets. LabelStack is swarm's (`docker stack ps NAME`
// finds the objects by it); the others are compose's project labels, the
// same keys as engine.LabelProject, LabelService and LabelVolume (a test in
// engine checks that they agree), so the jobs find a stack's containers
// and volumes as they find a compose project's.
const (
	LabelStack   = "com.docker.stack.namespace"
	LabelProject = "com.docker.compose.project"
	LabelService = "com.docker.compose.service"
	LabelVolume  = "com.docker.compose.volume"
)
