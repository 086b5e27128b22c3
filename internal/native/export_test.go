package native

// Frames counts a capture's native frames and its threads with registers.
func (c *Capture) Frames() (frames, threads int) {
	for _, rt := range c.threads {
		if rt.hasReg {
			threads++
			frames += len(rt.frames)
		}
	}
	return frames, threads
}

// Errors are the capture's unwind errors, thread by thread.
func (c *Capture) Errors() []string {
	var out []string
	for _, rt := range c.threads {
		if rt.err != nil {
			out = append(out, rt.err.Error())
		}
	}
	return out
}
