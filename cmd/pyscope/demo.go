package main

import (
	"bufio"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"pyscope/internal/engine"
)

//go:embed demo/demo.py
var demoScript []byte

func newDemoCmd() *cobra.Command {
	var python string
	var f dumpFlags
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start a small Python program, dump it, and stop it",
		Long: `demo writes a small multi-threaded Python program to a temporary directory,
starts it with python3 from PATH (or --python), runs "pyscope dump" on it,
and stops it again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd, python, f)
		},
	}
	cmd.Flags().StringVar(&python, "python", "python3", "the Python interpreter to run the demo with")
	cmd.Flags().BoolVar(&f.json, "json", false, "print JSON")
	cmd.Flags().StringVar(&f.color, "color", "auto", "colour output: auto, always or never")
	return cmd
}

func runDemo(cmd *cobra.Command, python string, f dumpFlags) error {
	exe, err := exec.LookPath(python)
	if err != nil {
		return fmt.Errorf("cannot find %s: install Python 3.10–3.14 or pass --python PATH", python)
	}
	dir, err := os.MkdirTemp("", "pyscope-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "demo_service.py")
	if err := os.WriteFile(script, demoScript, 0o644); err != nil {
		return err
	}
	c := exec.Command(exe, script)
	stdin, err := c.StdinPipe()
	if err != nil {
		return err
	}
	out, err := c.StdoutPipe()
	if err != nil {
		return err
	}
	c.Stderr = os.Stderr
	if err := c.Start(); err != nil {
		return fmt.Errorf("start %s: %v", exe, err)
	}
	defer func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			c.Process.Kill()
			<-done
		}
	}()
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- strings.TrimSpace(line) == "ready"
	}()
	select {
	case ok := <-ready:
		if !ok {
			return fmt.Errorf("the demo program did not start; is %s Python 3?", exe)
		}
	case <-time.After(20 * time.Second):
		return fmt.Errorf("the demo program did not start within 20 s")
	}
	waitReadingStdin(c.Process.Pid)
	fmt.Fprintf(cmd.ErrOrStderr(), "$ pyscope dump %d    # %s %s\n", c.Process.Pid, exe, script)
	return runDump(cmd.OutOrStdout(), fmt.Sprint(c.Process.Pid), f)
}

// waitReadingStdin waits, briefly, until the demo's main thread blocks in
// read(2) on stdin: it prints "ready" just before, and a dump taken at
// once may still find it in print().
func waitReadingStdin(pid int) {
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		if engine.ThreadSyscall(pid, pid) == "read" {
			return
		}
	}
}
