package profile

import (
	"encoding/json"
	"fmt"
	"io"

	"pyscope/internal/version"
	"pyscope/internal/wtf8"
)

// speedscope's file format (https://www.speedscope.app/file-format-schema.json).
type ssFile struct {
	Schema             string      `json:"$schema"`
	Shared             ssShared    `json:"shared"`
	Profiles           []ssProfile `json:"profiles"`
	Name               string      `json:"name,omitempty"`
	ActiveProfileIndex int         `json:"activeProfileIndex"`
	Exporter           string      `json:"exporter"`
}

type ssShared struct {
	Frames []ssFrame `json:"frames"`
}

type ssFrame struct {
	Name string `json:"name"`
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

type ssProfile struct {
	Type       string    `json:"type"` // "sampled"
	Name       string    `json:"name"`
	Unit       string    `json:"unit"`
	StartValue float64   `json:"startValue"`
	EndValue   float64   `json:"endValue"`
	Samples    [][]int32 `json:"samples"` // frame indices, root first
	Weights    []float64 `json:"weights"`
}

// WriteSpeedscope writes speedscope's JSON: one sampled profile per thread
// (speedscope shows one at a time and its time-order view only makes sense
// per thread), the thread with the most samples first on screen, frames
// shared. Samples stay in time order, consecutive equal stacks merged;
// weights are in seconds (samples × interval).
func (p *Profile) WriteSpeedscope(w io.Writer) error {
	f := ssFile{
		Schema:   "https://www.speedscope.app/file-format-schema.json",
		Name:     p.opts.Name,
		Exporter: "pyscope " + version.Version,
		Shared:   ssShared{Frames: []ssFrame{}},
		Profiles: []ssProfile{},
	}
	idx := make([]int32, len(p.frames))
	for i := range idx {
		idx[i] = -1
	}
	frame := func(fr int32) int32 {
		if idx[fr] < 0 {
			k := p.frames[fr].key
			idx[fr] = int32(len(f.Shared.Frames))
			// speedscope shows the file and line beside the name.
			sf := ssFrame{Name: k.qualname, File: k.file, Line: k.line}
			if sf.Name == "" && k.kind == kindPython {
				sf.Name = "<unknown>"
			}
			if k.kind == kindNative {
				if sf.Name == "" {
					sf.Name = fmt.Sprintf("%#x", k.offset)
				}
				if sf.File == "" {
					sf.File = k.module
				}
			}
			// JSON: a lone surrogate is U+FFFD (see report's JSON).
			sf.Name, sf.File = wtf8.ToUTF8(sf.Name), wtf8.ToUTF8(sf.File)
			f.Shared.Frames = append(f.Shared.Frames, sf)
		}
		return idx[fr]
	}
	sec := p.opts.Interval.Seconds()
	var best int64 = -1
	var buf []int32
	for _, th := range p.threads {
		if len(th.runs) == 0 {
			continue
		}
		prof := ssProfile{Type: "sampled", Name: p.threadTitle(th), Unit: "seconds", Samples: [][]int32{}, Weights: []float64{}}
		for _, r := range th.runs {
			buf = p.stack(r.node, buf)
			stack := make([]int32, 0, len(buf))
			for _, fr := range buf {
				if !p.frames[fr].pseudo() {
					stack = append(stack, frame(fr))
				}
			}
			wgt := float64(r.n) * sec
			prof.Samples = append(prof.Samples, stack)
			prof.Weights = append(prof.Weights, wgt)
			prof.EndValue += wgt
		}
		if th.kept > best {
			best = th.kept
			f.ActiveProfileIndex = len(f.Profiles)
		}
		f.Profiles = append(f.Profiles, prof)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(&f)
}

// threadTitle names a thread as the text dump does.
func (p *Profile) threadTitle(th *threadInfo) string {
	s := fmt.Sprintf("Thread %#x", th.key.tid)
	if th.nativeID != 0 {
		s += fmt.Sprintf(" (TID %d)", th.nativeID)
	}
	if th.name != "" {
		s += fmt.Sprintf(" %q", th.name)
	}
	if p.opts.SplitProcesses || p.multiProcess() {
		s = fmt.Sprintf("Process %d: %s", th.key.pid, s)
	}
	return s
}

func (p *Profile) multiProcess() bool {
	for _, th := range p.threads {
		if th.key.pid != p.threads[0].key.pid {
			return true
		}
	}
	return false
}
