package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"pyscope/internal/version"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print pyscope's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			build := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" && len(s.Value) >= 12 {
						build = "commit " + s.Value[:12] + ", "
					}
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pyscope %s (%s%s, %s/%s)\nreads CPython 3.10–3.14 on Linux x86-64\n",
				version.Version, build, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
