package fingerprint

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
)

// mariadbIn fingerprints tables with a row count and the server's CHECKSUM
// TABLE (whole rows), or, for tables with declared columns, the sum of the
// crc32 of those columns (up to the reference's key for keyed tables). The
// client runs inside the database container as its root user, the
// password from the container's own settings passed in the environment,
// never on the command line. It runs outside the dump's snapshot: see
// docs/backup.md (Fingerprints).
func mariadbIn(ctx context.Context, e Engine, id string, s bank.FingerprintSpec, ref *Part) ([]Item, error) {
	pw := ""
	for _, k := range []string{"MARIADB_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD"} {
		v, err := envOf(ctx, e, id, k, "")
		if err != nil {
			return nil, err
		}
		if v != "" {
			pw = v
			break
		}
	}
	o := engine.ExecOptions{User: "root"}
	if pw != "" {
		o.Env = []string{"MYSQL_PWD=" + pw}
	}
	client := "mariadb"
	if err := e.Exec(ctx, id, []string{"sh", "-c", "command -v mariadb"}, o); err != nil {
		client = "mysql"
	}
	query := func(sql string) ([]string, error) {
		var out strings.Builder
		o := o
		o.Stdout = &out
		if err := e.Exec(ctx, id, []string{client, "-uroot", "-N", "-B", "-e", sql}, o); err != nil {
			return nil, err
		}
		return strings.Split(strings.TrimRight(out.String(), "\n"), "\n"), nil
	}
	tables := s.Tables
	if len(tables) == 0 {
		lines, err := query(fmt.Sprintf("select table_name from information_schema.tables where table_schema = %s and table_type = 'BASE TABLE' order by 1",
			quoteLiteral(s.Database)))
		if err != nil {
			return nil, fmt.Errorf("list tables of %s: %w", s.Database, err)
		}
		for _, l := range lines {
			if l != "" {
				tables = append(tables, bank.FingerprintTable{Name: l})
			}
		}
	}
	if len(tables) == 0 {
		return nil, nil
	}
	refs := map[string]Item{}
	if ref != nil {
		for _, it := range ref.Items {
			refs[it.ID] = it
		}
	}
	var sql strings.Builder
	for _, t := range tables {
		r, guided := refs[t.Name]
		sql.WriteString(mariadbQuery(s.Database, t, r, guided))
	}
	lines, err := query(sql.String())
	if err != nil {
		return nil, err
	}
	items := make([]Item, 0, len(tables))
	i := 0
	for _, t := range tables {
		if len(t.Columns) == 0 {
			// count, then "db.table<TAB>checksum"
			if i+2 > len(lines) {
				return nil, fmt.Errorf("unexpected output of the table checksums: %q", lines)
			}
			rows, err := strconv.ParseInt(strings.TrimSpace(lines[i]), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("table %s: %q: %w", t.Name, lines[i], err)
			}
			f := strings.Split(lines[i+1], "\t")
			items = append(items, Item{ID: t.Name, Rows: rows, Digest: "checksum:" + f[len(f)-1]})
			i += 2
			continue
		}
		if i >= len(lines) {
			return nil, fmt.Errorf("unexpected output of the table checksums: %q", lines)
		}
		f := strings.Split(lines[i], "\t")
		i++
		if len(f) != 3 {
			return nil, fmt.Errorf("table %s: unexpected output %q", t.Name, lines[i-1])
		}
		rows, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("table %s: %q: %w", t.Name, lines[i-1], err)
		}
		it := Item{ID: t.Name, Rows: rows, Digest: "crc32sum:" + f[1]}
		if t.Key != "" {
			if r, ok := refs[t.Name]; ok {
				it.Upto = r.Upto
				it.Later, _ = strconv.ParseInt(f[2], 10, 64)
			} else if f[2] != "NULL" {
				it.Upto = f[2]
			}
		}
		items = append(items, it)
	}
	return items, nil
}

func mariadbQuery(db string, t bank.FingerprintTable, ref Item, guided bool) string {
	name := bt(db) + "." + bt(t.Name)
	if len(t.Columns) == 0 {
		return fmt.Sprintf("select count(*) from %s; checksum table %s;\n", name, name)
	}
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = "t." + bt(c)
	}
	hash := "crc32(concat_ws(char(31), " + strings.Join(cols, ", ") + "))"
	switch {
	case t.Key == "":
		return fmt.Sprintf("select count(*), coalesce(sum(%s), 0), '' from %s t;\n", hash, name)
	case !guided:
		return fmt.Sprintf("select count(*), coalesce(sum(%s), 0), max(t.%s) from %s t;\n", hash, bt(t.Key), name)
	case ref.Upto == "":
		return fmt.Sprintf("select 0, 0, count(*) from %s t;\n", name)
	}
	key, lit := "t."+bt(t.Key), quoteLiteral(ref.Upto)
	return fmt.Sprintf("select coalesce(sum(%s <= %s), 0), coalesce(sum(if(%s <= %s, %s, 0)), 0), coalesce(sum(%s > %s), 0) from %s t;\n",
		key, lit, key, lit, hash, key, lit, name)
}

func bt(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
