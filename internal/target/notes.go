package target

// Notes pyscope adds to the cores it writes (gcore) and reads back
// (target/core): name "PYSCOPE", types outside anything BFD or gdb
// interprets.
const (
	PyscopeNoteName  = "PYSCOPE"
	NtPyscopeThreads = 0x50590001 // per thread: int32 tid, char comm[16]
	NtPyscopeMaps    = 0x50590002 // /proc/PID/maps text at dump time
)
