package target

// Notes pyscope adds to the cores it writes (gcore) and reads back
// (target/core): name "PYSCOPE", types outside anything BFD or gdb
// interprets.
const (
	PyscopeNoteName  = "PYSCOPE"
	NtPyscopeThreads = 0x50590001 // per thread: int32 tid, char comm[16]
	NtPyscopeMaps    = 0x50590002 // /proc/PID/maps text at dump time
)

// The Linux core notes (linux/elf.h) gcore writes and target/core reads,
// and the layout both share: struct elf_prstatus and elf_prpsinfo are the
// same on x86-64 and arm64 up to pr_reg, whose size is the architecture's
// (PrstatusRegsSize).
const (
	NtPrstatus = 1
	NtFpregset = 2
	NtPrpsinfo = 3
	NtAuxv     = 6
	NtFile     = 0x46494c45
	NtSiginfo  = 0x53494749

	PrstatusPidOff = 32
	PrstatusRegOff = 112
	PrpsinfoSize   = 136
)
