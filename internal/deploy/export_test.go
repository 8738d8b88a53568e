package deploy

// Test helpers of this package, for the tests in package deploy_test
// (which import the backup job, itself an importer of deploy).
var (
	RunningContainer = running
	CountRunning     = countRunning
	SwarmEngine      = swarmEngine
	SourceChecks     = sourceChecks
)
