package fingerprint

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
)

// The checksum of a table is order-independent and runs in constant
// memory: the sum of the first 64 bits of each row's md5 (the backup's
// manifest uses the same; sum of bigint is numeric, so no per-row cast).
const (
	pgTables = `select format('%I.%I', schemaname, tablename) from pg_tables where schemaname not in ('pg_catalog', 'information_schema') order by 1;`
	pgHash   = `('x' || left(md5(%s), 16))::bit(64)::bigint`
)

// PostgresItems fingerprints the tables a spec declares (every user table
// when it names none) with run, which executes statements in one
// transaction of the database, each returning its output lines
// (unaligned, '|'-separated). The backup runs them in its dump's snapshot.
func PostgresItems(s bank.FingerprintSpec, ref *Part, run func(stmts []string) ([][]string, error)) ([]Item, error) {
	tables := s.Tables
	if len(tables) == 0 {
		out, err := run([]string{pgTables})
		if err != nil {
			return nil, fmt.Errorf("list tables of %s: %w", s.Database, err)
		}
		for _, l := range out[0] {
			if l != "" {
				tables = append(tables, bank.FingerprintTable{Name: l})
			}
		}
	}
	refs := map[string]Item{}
	if ref != nil {
		for _, it := range ref.Items {
			refs[it.ID] = it
		}
	}
	stmts := make([]string, len(tables))
	for i, t := range tables {
		r, ok := refs[t.Name]
		stmts[i] = postgresQuery(t, r, ok)
	}
	out, err := run(stmts)
	if err != nil {
		return nil, err
	}
	items := make([]Item, 0, len(tables))
	for i, t := range tables {
		lines := out[i]
		if len(lines) != 1 {
			return nil, fmt.Errorf("table %s: unexpected output %q", t.Name, lines)
		}
		f := strings.Split(lines[0], "|")
		if len(f) != 3 {
			return nil, fmt.Errorf("table %s: unexpected output %q", t.Name, lines[0])
		}
		rows, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("table %s: %q: %w", t.Name, lines[0], err)
		}
		it := Item{ID: t.Name, Rows: rows, Digest: "md5sum64:" + f[1]}
		if t.Key != "" {
			if r, ok := refs[t.Name]; ok {
				it.Upto = r.Upto
				it.Later, _ = strconv.ParseInt(f[2], 10, 64)
			} else {
				it.Upto = f[2]
			}
		}
		items = append(items, it)
	}
	return items, nil
}

// postgresQuery returns rows|checksum|extra for a table: extra is the
// largest key at a capture, or the count of rows past the reference's key.
func postgresQuery(t bank.FingerprintTable, ref Item, guided bool) string {
	name := quoteTable(t.Name)
	row := "t::text"
	if len(t.Columns) > 0 {
		cols := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = "t." + quoteIdent(c)
		}
		row = "row(" + strings.Join(cols, ", ") + ")::text"
	}
	hash := fmt.Sprintf(pgHash, row)
	switch {
	case t.Key == "":
		return fmt.Sprintf("select count(*), coalesce(sum(%s), 0), '' from %s t;", hash, name)
	case !guided:
		return fmt.Sprintf("select count(*), coalesce(sum(%s), 0), coalesce(max(t.%s)::text, '') from %s t;", hash, quoteIdent(t.Key), name)
	case ref.Upto == "":
		return fmt.Sprintf("select 0, 0, count(*) from %s t;", name)
	}
	key, lit := "t."+quoteIdent(t.Key), quoteLiteral(ref.Upto)
	return fmt.Sprintf("select count(*) filter (where %s <= %s), coalesce(sum(%s) filter (where %s <= %s), 0), count(*) filter (where %s > %s) from %s t;",
		key, lit, hash, key, lit, key, lit, name)
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

// quoteTable quotes schema.table; a name listed by pg_tables is quoted
// already where it needs to be.
func quoteTable(s string) string {
	if strings.Contains(s, `"`) {
		return s
	}
	schema, table, ok := strings.Cut(s, ".")
	if !ok {
		return quoteIdent(s)
	}
	return quoteIdent(schema) + "." + quoteIdent(table)
}

const pgMarker = "__dockerbank_fp__"

// postgresIn runs the statements with psql in the database container, in
// one read-only repeatable-read transaction.
func postgresIn(ctx context.Context, e Engine, id string, s bank.FingerprintSpec, ref *Part) ([]Item, error) {
	user, err := envOf(ctx, e, id, "POSTGRES_USER", "postgres")
	if err != nil {
		return nil, err
	}
	run := func(stmts []string) ([][]string, error) {
		var script strings.Builder
		script.WriteString("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n")
		for _, st := range stmts {
			fmt.Fprintf(&script, "\\echo %s\n%s\n", pgMarker, st)
		}
		script.WriteString("COMMIT;\n")
		var out strings.Builder
		cmd := []string{"psql", "-X", "-q", "-t", "-A", "-F", "|", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", s.Database}
		if err := e.Exec(ctx, id, cmd, engine.ExecOptions{Stdin: strings.NewReader(script.String()), Stdout: &out}); err != nil {
			return nil, err
		}
		return splitMarked(out.String(), pgMarker, len(stmts))
	}
	return PostgresItems(s, ref, run)
}

// splitMarked splits output into the lines after each marker line.
func splitMarked(out, marker string, n int) ([][]string, error) {
	var res [][]string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if l == marker {
			res = append(res, []string{})
			continue
		}
		if len(res) == 0 || l == "" {
			continue
		}
		res[len(res)-1] = append(res[len(res)-1], l)
	}
	if len(res) != n {
		return nil, fmt.Errorf("expected the output of %d statements, got %d", n, len(res))
	}
	return res, nil
}
