package backup

import (
	"context"
	"errors"
)

// ArchiveResult describes a written archive.
type ArchiveResult struct {
	Group string `json:"group"`
	File  string `json:"file"`
	Bytes int64  `json:"bytes"`
}

// Export writes a new group of an instance as one archive file.
func (j *Job) Export(ctx context.Context, name, file string) (*ArchiveResult, error) {
	return nil, errors.New("backup --archive is not implemented yet")
}

// Import restores an instance from an archive file.
func (j *Job) Import(ctx context.Context, name, file string, o RestoreOptions) (*RestoreResult, error) {
	return nil, errors.New("restore --archive is not implemented yet")
}
