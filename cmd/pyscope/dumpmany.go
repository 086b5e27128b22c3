package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"pyscope/internal/engine"
	"pyscope/internal/model"
	"pyscope/internal/report"
	"pyscope/internal/source"
)

// runDumpMany dumps several programs, or process trees with
// --subprocesses: read concurrently, printed in order.
func runDumpMany(w io.Writer, args []string, f dumpFlags) error {
	opts, err := f.options()
	if err != nil {
		return err
	}
	targets, named, err := dumpTargets(args, f.subprocesses)
	if err != nil {
		return err
	}
	opened := engine.SnapshotAll(targets, opts)
	defer func() {
		for i := range opened {
			opened[i].Close()
		}
	}()
	var doc model.Processes
	var failed []error
	show := make([]any, len(opened)) // *model.Snapshot or model.Skipped, in order
	for i, o := range opened {
		if o.Err == nil {
			doc.Processes = append(doc.Processes, o.Snapshot)
			show[i] = o.Snapshot
			continue
		}
		sk := model.Skipped{Reason: "error", Error: o.Err.Error()}
		if pid, err := strconv.Atoi(o.Arg); err == nil {
			sk.PID = pid
			sk.PPID, sk.Executable = engine.About(pid)
		}
		// A tree's root may be a shell or a supervisor that runs no Python.
		strict := named[o.Arg] && !f.subprocesses
		switch {
		case !strict && errors.Is(o.Err, engine.ErrNotPython):
			sk.Reason = "not_python"
		case !named[o.Arg] && engine.Skippable(o.Err):
			sk.Reason = "exited"
		default:
			failed = append(failed, o.Err)
		}
		doc.Skipped = append(doc.Skipped, sk)
		show[i] = sk
	}
	if f.subprocesses && len(doc.Processes) == 0 && len(failed) == 0 {
		return fmt.Errorf("no process of the tree of %s runs Python", joinArgs(args))
	}
	if f.json {
		if doc.Processes == nil {
			doc.Processes = []*model.Snapshot{}
		}
		err = report.JSONValue(w, &doc)
	} else {
		err = dumpManyText(w, show, opened, f)
	}
	if err != nil {
		return err
	}
	switch len(failed) {
	case 0:
		return nil
	case 1:
		return failed[0]
	}
	return fmt.Errorf("%d of %d processes could not be read; the first: %w", len(failed), len(opened), failed[0])
}

func dumpManyText(w io.Writer, show []any, opened []engine.Opened, f dumpFlags) error {
	color := useColor(w, f.color)
	for i, s := range show {
		if i > 0 {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
		var err error
		switch s := s.(type) {
		case *model.Snapshot:
			// Source lines are read after the process has been resumed.
			opt := report.TextOptions{Color: color, Sources: source.New(opened[i].Program.Open), Parent: true}
			opt.SourceEpoch, opt.SourceEpochWhat = sourceEpoch(opened[i].Program)
			err = report.Text(w, s, opt)
		case model.Skipped:
			err = report.Skipped(w, s, color)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// dumpTargets lists what to dump, in order: the arguments, each followed
// by its descendants with --subprocesses (each process once). named holds
// the arguments themselves: a failure there fails the dump.
func dumpTargets(args []string, subprocesses bool) (targets []string, named map[string]bool, err error) {
	named = map[string]bool{}
	listed := map[string]bool{}
	for _, a := range args {
		named[a] = true
	}
	for _, a := range args {
		if listed[a] {
			continue
		}
		listed[a] = true
		targets = append(targets, a)
		if !subprocesses {
			continue
		}
		pid, err := strconv.Atoi(a)
		if err != nil || pid <= 0 {
			return nil, nil, fmt.Errorf("--subprocesses takes process IDs, and %s is not one", a)
		}
		kids, err := engine.Subprocesses(pid)
		if err != nil {
			return nil, nil, err
		}
		for _, k := range kids {
			if s := strconv.Itoa(k); !listed[s] {
				listed[s] = true
				targets = append(targets, s)
			}
		}
	}
	return targets, named, nil
}

func joinArgs(args []string) string {
	if len(args) == 1 {
		return "process " + args[0]
	}
	return fmt.Sprintf("processes %v", args)
}
