// Command testreport reads `go test -json` on stdin and prints what plain
// `go test` prints (a line per package, the output of failed tests only),
// then a table of test counts per package and in total. scripts/test.sh
// uses it; -summary FILE writes the table there too.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action      string
	Package     string
	ImportPath  string // build-output events
	Test        string
	Elapsed     float64
	Output      string
	FailedBuild string
}

type counts struct{ run, pass, fail, skip int }

func (c *counts) add(action string) {
	c.run++
	switch action {
	case "pass":
		c.pass++
	case "fail":
		c.fail++
	case "skip":
		c.skip++
	}
}

type pkgReport struct {
	name      string
	tests     counts // top-level tests
	subtests  counts
	elapsed   float64
	result    string // "ok", "FAIL", "no test files"
	output    map[string]*strings.Builder
	failed    []string // failed tests, in order
	buildFail bool
}

type reporter struct {
	out  io.Writer
	pkgs map[string]*pkgReport
}

func newReporter(out io.Writer) *reporter {
	return &reporter{out: out, pkgs: map[string]*pkgReport{}}
}

func (r *reporter) pkg(name string) *pkgReport {
	p := r.pkgs[name]
	if p == nil {
		p = &pkgReport{name: name, output: map[string]*strings.Builder{}}
		r.pkgs[name] = p
	}
	return p
}

// handle takes one event; a line that is not JSON (go vet or build
// errors on stderr merged in) is passed through.
func (r *reporter) handle(line []byte) {
	var e event
	if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
		fmt.Fprintf(r.out, "%s\n", line)
		return
	}
	switch e.Action {
	case "build-output":
		fmt.Fprint(r.out, e.Output)
		return
	case "build-fail":
		return
	}
	p := r.pkg(e.Package)
	switch e.Action {
	case "output":
		b := p.output[e.Test]
		if b == nil {
			b = &strings.Builder{}
			p.output[e.Test] = b
		}
		b.WriteString(e.Output)
	case "pass", "fail", "skip":
		if e.Test == "" {
			r.finish(p, e)
			return
		}
		if strings.Contains(e.Test, "/") {
			p.subtests.add(e.Action)
		} else {
			p.tests.add(e.Action)
		}
		if e.Action == "fail" {
			p.failed = append(p.failed, e.Test)
		}
	}
}

// finish prints a package's result the way plain `go test` does.
func (r *reporter) finish(p *pkgReport, e event) {
	p.elapsed = e.Elapsed
	p.buildFail = e.FailedBuild != ""
	switch {
	case e.Action == "fail":
		p.result = "FAIL"
		for _, t := range p.failed {
			if b := p.output[t]; b != nil {
				fmt.Fprint(r.out, b.String())
			}
		}
		// Package-level output: a panic, a timeout, the FAIL line.
		if b := p.output[""]; b != nil {
			fmt.Fprint(r.out, b.String())
		}
	case p.tests.run == 0 && e.Action == "skip":
		p.result = "no test files"
		fmt.Fprintf(r.out, "?   \t%s\t[no test files]\n", p.name)
	default:
		p.result = "ok"
		fmt.Fprintf(r.out, "ok  \t%s\t%.3fs\t%s\n", p.name, p.elapsed, p.short())
	}
	p.output = nil
}

func (p *pkgReport) short() string {
	s := plural(p.tests.run, "test")
	if p.subtests.run > 0 {
		s += ", " + plural(p.subtests.run, "subtest")
	}
	if n := p.tests.skip + p.subtests.skip; n > 0 {
		s += fmt.Sprintf(", %d skipped", n)
	}
	return s
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// table writes the counts per package and in total.
func (r *reporter) table(w io.Writer) {
	names := make([]string, 0, len(r.pkgs))
	for n, p := range r.pkgs {
		if p.result != "no test files" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var tot pkgReport
	rows := [][]string{{"package", "tests", "passed", "failed", "skipped", "subtests", "passed", "failed", "skipped", "time"}}
	row := func(name, result string, p *pkgReport) {
		r := []string{name}
		for _, c := range []counts{p.tests, p.subtests} {
			for _, n := range []int{c.run, c.pass, c.fail, c.skip} {
				r = append(r, strconv.Itoa(n))
			}
		}
		rows = append(rows, append(r, result))
	}
	for _, n := range names {
		p := r.pkgs[n]
		result := fmt.Sprintf("%.1fs", p.elapsed)
		switch {
		case p.buildFail:
			result = "BUILD FAILED"
		case p.result == "":
			result = "DID NOT FINISH"
		case p.result == "FAIL":
			result += " FAIL"
		}
		row(strings.TrimPrefix(n, "pyscope/"), result, p)
		for _, c := range []struct{ to, from *counts }{{&tot.tests, &p.tests}, {&tot.subtests, &p.subtests}} {
			c.to.run += c.from.run
			c.to.pass += c.from.pass
			c.to.fail += c.from.fail
			c.to.skip += c.from.skip
		}
	}
	row(fmt.Sprintf("total (%d packages)", len(names)), "", &tot)
	// The name left-aligned, the counts right-aligned under their heading.
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	for _, r := range rows {
		line := fmt.Sprintf("%-*s", width[0], r[0])
		for i, c := range r[1 : len(r)-1] {
			line += fmt.Sprintf("  %*s", width[i+1], c)
		}
		fmt.Fprintln(w, strings.TrimRight(line+"  "+r[len(r)-1], " "))
	}
	var failed []string
	for _, n := range names {
		for _, t := range r.pkgs[n].failed {
			failed = append(failed, n+" "+t)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintln(w, "failed tests:")
		for _, f := range failed {
			fmt.Fprintln(w, "  "+f)
		}
	}
}

func main() {
	summary := flag.String("summary", "", "also write the table of counts to this file")
	flag.Parse()
	r := newReporter(os.Stdout)
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		r.handle(sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(1)
	}
	fmt.Println()
	r.table(os.Stdout)
	if *summary != "" {
		f, err := os.Create(*summary)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			os.Exit(1)
		}
		r.table(f)
		f.Close()
	}
}
