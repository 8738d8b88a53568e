package bank

import "github.com/compose-spec/compose-go/v2/types"

// Render applies a version to a loaded project the way deploy renders an
// instance: generated secrets reach compose through their environment
// variable (SecretEnv), every service gets the version's image (PinImages),
// and services the entry builds are never pulled. deploy adds its labels on
// top; `bank lint` checks the result, so that what deploy would hand to
// compose is what lint judged.
func Render(p *types.Project, ver Version, model *ComposeModel) {
	for name := range model.Secrets {
		s := p.Secrets[name]
		s.Environment = SecretEnv(name)
		s.File = ""
		p.Secrets[name] = s
	}
	PinImages(p, ver)
	for name := range ver.Build {
		if s, ok := p.Services[name]; ok {
			s.PullPolicy = types.PullPolicyNever
			p.Services[name] = s
		}
	}
}

// PinImages gives every service the version's image, pinned to its digest
// where the version records one, and drops the build of services the entry
// builds itself (their image is built by dockerbank, not by compose). Kube
// export uses it alone: a cluster pulls the built image from a registry.
func PinImages(p *types.Project, ver Version) {
	for name, s := range p.Services {
		if img, ok := ver.Images[name]; ok {
			s.Image = img
			if d, ok := ver.Digests[name]; ok {
				s.Image = img + "@" + d
			}
		}
		if _, ok := ver.Build[name]; ok {
			s.Build = nil
		}
		p.Services[name] = s
	}
}
