package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) journalCommand() *cobra.Command {
	var limit int
	c := &cobra.Command{
		Use:     "journal [INSTANCE]",
		Short:   "Show the operation journal of the site, or of one instance",
		GroupID: "site",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openSite()
			if err != nil {
				return err
			}
			recs, err := s.Journal()
			if err != nil {
				return err
			}
			if len(args) == 1 {
				kept := recs[:0]
				for _, r := range recs {
					if r.Instance == args[0] {
						kept = append(kept, r)
					}
				}
				recs = kept
			}
			if limit > 0 && len(recs) > limit {
				recs = recs[len(recs)-limit:]
			}
			if a.json {
				return a.printJSON(recs)
			}
			rows := make([][]string, 0, len(recs))
			for _, r := range recs {
				rows = append(rows, []string{r.Time.Local().Format("2006-01-02 15:04:05"), r.User, orDash(r.Instance), r.Outcome, r.Command, r.Detail})
			}
			a.table([]string{"TIME", "USER", "INSTANCE", "OUTCOME", "COMMAND", "DETAIL"}, rows)
			if len(recs) == 0 {
				fmt.Fprintln(a.streams.Err, "(journal is empty)")
			}
			return nil
		},
	}
	c.Flags().IntVarP(&limit, "limit", "n", 50, "show the last N records (0: all)")
	return c
}
