package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"pyscope/internal/report"
	"pyscope/internal/sampler"
	"pyscope/internal/top"
)

type topFlags struct {
	sampleFlags
	delay      float64
	iterations int
	batch      bool
	lines      bool
}

func newTopCmd() *cobra.Command {
	var f topFlags
	cmd := &cobra.Command{
		Use:   "top PID",
		Short: "Live view of the functions a process spends its time in",
		Long: `top samples the Python stack of every thread of a running process and shows,
refreshed every second, the functions it spends its time in: by own time
(the function itself runs) and total time (it is on the stack), with the
share of time some thread held the GIL and the share of idle threads.

Keys: 1-4 or < > pick the sort column, R reverses it, l shows lines, i idle
threads, g only GIL holders, p or space pauses (the process is then not
sampled), x resets the times, h helps, q quits.

When the output is not a terminal (or with -b), each refresh is printed as
plain lines, as top -b does; -n ends after that many refreshes.`,
		Args: oneArg("process ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, err := parsePID(args[0])
			if err != nil {
				return err
			}
			return runTop(pid, f)
		},
	}
	f.sampleFlags.register(cmd)
	fl := cmd.Flags()
	fl.Float64VarP(&f.delay, "delay", "d", 1, "seconds between refreshes")
	fl.IntVarP(&f.iterations, "iterations", "n", 0, "quit after this many refreshes (0: never)")
	fl.BoolVarP(&f.batch, "batch", "b", false, "print plain lines, one block per refresh (the default when stdout is not a terminal)")
	fl.BoolVarP(&f.lines, "lines", "l", false, "show lines, not functions")
	return cmd
}

func runTop(pid int, f topFlags) error {
	if f.delay <= 0 || f.delay > 86400 {
		return fmt.Errorf("--delay %g: give a number of seconds above 0", f.delay)
	}
	if f.iterations < 0 {
		return fmt.Errorf("--iterations %d: give 0 (never stop) or more", f.iterations)
	}
	longRunning()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	smp, err := sampler.New(pid, f.sampleFlags.options())
	if err != nil {
		return err
	}
	defer smp.Close()
	title := fmt.Sprintf("process %d", pid)
	if ps := smp.Processes(); len(ps) > 0 {
		build := ""
		if ps[0].FreeThreaded {
			build = " free-threaded" // as dump says it
		}
		title = fmt.Sprintf("process %d (%s), Python %s%s, %g Hz", pid, report.Safe(ps[0].Name), ps[0].Python, build, f.rate)
	}
	batch := f.batch || !term.IsTerminal(int(os.Stdout.Fd()))
	return top.Run(ctx, smp, os.Stdin, os.Stdout, top.Options{Title: title,
		Delay: time.Duration(f.delay * float64(time.Second)), Iterations: f.iterations, Batch: batch,
		Lines: f.lines, Idle: f.idle, GILOnly: f.gil, NonBlocking: f.nonblocking})
}
