package bank

import (
	"path"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// shellBuiltins are commands a POSIX shell or bash runs itself, so the
// image needs no program of that name.
var shellBuiltins = map[string]bool{
	":": true, ".": true, "[": true, "[[": true, "alias": true, "break": true, "cd": true, "command": true,
	"continue": true, "echo": true, "eval": true, "exec": true, "exit": true, "export": true, "false": true,
	"getopts": true, "hash": true, "kill": true, "local": true, "printf": true, "pwd": true, "read": true,
	"readonly": true, "return": true, "set": true, "shift": true, "source": true, "test": true, "times": true,
	"trap": true, "true": true, "type": true, "ulimit": true, "umask": true, "unalias": true, "unset": true,
	"wait": true, "let": true, "declare": true, "typeset": true,
}

// shells are the programs whose "-c SCRIPT" argument is a shell script.
var shells = map[string]bool{"sh": true, "bash": true, "ash": true, "dash": true}

// probe is a command an entry runs in a container: a health check, a
// post-deploy check or an entrypoint, as argv.
type probe struct {
	kind string // "healthcheck", "check NAME", "entrypoint"
	argv []string
}

// script returns the shell script of argv when it runs "SHELL -c SCRIPT".
func (p probe) script() (string, bool) {
	if len(p.argv) < 3 || !shells[path.Base(p.argv[0])] {
		return "", false
	}
	for i := 1; i < len(p.argv)-1; i++ {
		if p.argv[i] == "-c" || (strings.HasPrefix(p.argv[i], "-") && strings.HasSuffix(p.argv[i], "c")) {
			return p.argv[i+1], true
		}
	}
	return "", false
}

// programs lists the programs a probe needs from the image: its argv[0] and,
// for a shell script, every command the script calls by a literal name.
func (p probe) programs() []string {
	if len(p.argv) == 0 {
		return nil
	}
	out := []string{p.argv[0]}
	if s, ok := p.script(); ok {
		for _, c := range scriptCalls(s) {
			if !shellBuiltins[c[0]] {
				out = append(out, c[0])
			}
			if c[0] == "exec" || c[0] == "command" {
				for _, a := range c[1:] {
					if !strings.HasPrefix(a, "-") {
						out = append(out, a)
						break
					}
				}
			}
		}
	}
	return out
}

// scriptCalls parses a shell script and returns every simple command whose
// words are literals (argv), in order. A script that does not parse
// yields nothing: the shell reports it at run time.
func scriptCalls(script string) [][]string {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(script), "")
	if err != nil {
		return nil
	}
	var out [][]string
	syntax.Walk(f, func(n syntax.Node) bool {
		call, ok := n.(*syntax.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		var argv []string
		for _, w := range call.Args {
			lit, ok := wordText(w)
			if !ok {
				break
			}
			argv = append(argv, lit)
		}
		if len(argv) > 0 {
			out = append(out, argv)
		}
		return true
	})
	return out
}

// wordText returns a word made only of literal and quoted literal parts.
func wordText(w *syntax.Word) (string, bool) {
	var b strings.Builder
	for _, part := range w.Parts {
		switch x := part.(type) {
		case *syntax.Lit:
			b.WriteString(x.Value)
		case *syntax.SglQuoted:
			b.WriteString(x.Value)
		case *syntax.DblQuoted:
			for _, q := range x.Parts {
				lit, ok := q.(*syntax.Lit)
				if !ok {
					return "", false
				}
				b.WriteString(lit.Value)
			}
		default:
			return "", false
		}
	}
	return b.String(), true
}

// lastStatement returns the last top-level statement of a script, for the
// rule on checks that always pass.
func lastStatement(script string) *syntax.Stmt {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(script), "")
	if err != nil || len(f.Stmts) == 0 {
		return nil
	}
	return f.Stmts[len(f.Stmts)-1]
}
