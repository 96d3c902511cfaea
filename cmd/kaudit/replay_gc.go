package main

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// replayGCPercent is replay's garbage-collection target when GOGC is not
// set. Replay allocates fast (each event is decoded, redacted and judged)
// and keeps a small part of it (what the correlator needs of every
// request), so the collector's work follows what is allocated, and a
// higher target runs it less often. On the sample x 200, against 200
// (the target before, itself 0.83x the time of Go's default 100):
// 0.91x the instructions under callgrind with the collector running, and
// 0.83x the CPU time and 0.84x the elapsed time, best of six alternating
// runs, for 1.4x the peak memory (495 against 356 MB; since the
// correlator keeps requests smaller, 256-313 MB at 400).
const replayGCPercent = 400

// replayGC sets replay's collection target, unless the user chose one
// (GOGC), and a soft limit on its heap of three quarters of the memory
// the machine, or the cgroup replay runs in, has (unless GOMEMLIMIT is
// set). The correlator keeps every request of a replay, so a long log
// grows the live heap; with the limit, the collector runs more often as
// the heap nears it instead of letting the target (five times the live
// heap) run the process out of memory.
func replayGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(replayGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		if m := machineMemory(os.DirFS("/")); m > 0 {
			debug.SetMemoryLimit(m / 4 * 3)
		}
	}
}

// machineMemory returns the bytes of memory this process may use: the
// machine's (MemTotal of /proc/meminfo), or its cgroup's limit when that
// is lower (cgroup v2 memory.max, or v1 memory.limit_in_bytes, at the
// root of the cgroup mount: inside a container, the container's own); 0
// when none can be read (not Linux).
func machineMemory(root fs.FS) int64 {
	total := memTotal(root)
	for _, name := range []string{"sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := fs.ReadFile(root, name)
		if err != nil {
			continue
		}
		// "max" (v2) or a huge number (v1) when there is no limit.
		n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
		if err == nil && n > 0 && (total == 0 || n < total) {
			total = n
		}
	}
	return total
}

// memTotal reads MemTotal of /proc/meminfo, in bytes (0: none).
func memTotal(root fs.FS) int64 {
	f, err := root.Open("proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// MemTotal:       24683640 kB
		fields := strings.Fields(s.Text())
		if len(fields) == 3 && fields[0] == "MemTotal:" && fields[2] == "kB" {
			if kb, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}
