package backup

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/dockerbank/dockerbank/internal/engine"
)

// session is an interactive SQL client (psql, mariadb) running in a
// database container through exec, kept open so that several queries share
// one transaction or lock.
type session struct {
	in   *io.PipeWriter
	out  *bufio.Reader
	done chan error
	// end is the statement that makes the client print endMarker.
	end string
}

const endMarker = "__dockerbank_end__"

func openSession(ctx context.Context, e *engine.Engine, id string, cmd []string, o engine.ExecOptions, end string) *session {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	o.Stdin, o.Stdout = inR, outW
	s := &session{in: inW, out: bufio.NewReaderSize(outR, 64<<10), done: make(chan error, 1), end: end}
	go func() {
		err := e.Exec(ctx, id, cmd, o)
		outW.CloseWithError(errSessionEnded)
		inR.Close()
		s.done <- err
	}()
	return s
}

var errSessionEnded = errors.New("session ended")

// query sends statements and returns the lines printed before the end marker.
func (s *session) query(stmts string) ([]string, error) {
	if _, err := io.WriteString(s.in, stmts+"\n"+s.end+"\n"); err != nil {
		return nil, s.fail(err)
	}
	var lines []string
	for {
		line, err := s.out.ReadString('\n')
		if err != nil {
			return nil, s.fail(err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == endMarker {
			return lines, nil
		}
		lines = append(lines, line)
	}
}

func (s *session) fail(err error) error {
	s.in.Close()
	go io.Copy(io.Discard, s.out)
	if xerr := <-s.done; xerr != nil {
		s.done <- xerr
		return xerr
	}
	s.done <- nil
	return fmt.Errorf("database session ended early: %w", err)
}

// close ends the client and returns its exit error.
func (s *session) close() error {
	s.in.Close()
	go io.Copy(io.Discard, s.out)
	err := <-s.done
	s.done <- err
	return err
}
