package main

import (
	"math"
	"os"
	"runtime/debug"
	"testing"
	"testing/fstest"
)

func TestMachineMemory(t *testing.T) {
	meminfo := &fstest.MapFile{Data: []byte("MemFree:         1000 kB\nMemTotal:       24683584 kB\nBuffers:  1 kB\n")}
	for _, c := range []struct {
		name string
		fs   fstest.MapFS
		want int64
	}{
		{"meminfo alone", fstest.MapFS{"proc/meminfo": meminfo}, 24683584 * 1024},
		{"cgroup v2 without a limit", fstest.MapFS{"proc/meminfo": meminfo,
			"sys/fs/cgroup/memory.max": {Data: []byte("max\n")}}, 24683584 * 1024},
		{"cgroup v2 limit", fstest.MapFS{"proc/meminfo": meminfo,
			"sys/fs/cgroup/memory.max": {Data: []byte("2147483648\n")}}, 2147483648},
		{"cgroup v1 without a limit", fstest.MapFS{"proc/meminfo": meminfo,
			"sys/fs/cgroup/memory/memory.limit_in_bytes": {Data: []byte("9223372036854771712\n")}}, 24683584 * 1024},
		{"cgroup v1 limit", fstest.MapFS{"proc/meminfo": meminfo,
			"sys/fs/cgroup/memory/memory.limit_in_bytes": {Data: []byte("1073741824\n")}}, 1073741824},
		{"cgroup limit, no meminfo", fstest.MapFS{
			"sys/fs/cgroup/memory.max": {Data: []byte("1073741824\n")}}, 1073741824},
		{"nothing readable", fstest.MapFS{}, 0},
		{"meminfo in another unit", fstest.MapFS{"proc/meminfo": {Data: []byte("MemTotal: 24 GB\n")}}, 0},
	} {
		if got := machineMemory(c.fs); got != c.want {
			t.Errorf("%s: machineMemory = %d, want %d", c.name, got, c.want)
		}
	}
}

// TestReplayGC checks that replay chooses its collection target and heap
// limit only when the user did not: GOGC and GOMEMLIMIT win.
func TestReplayGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	replayGC()
	if got := debug.SetGCPercent(100); got != replayGCPercent {
		t.Errorf("GC percent %d, want %d", got, replayGCPercent)
	}
	want := machineMemory(os.DirFS("/")) / 4 * 3
	if want <= 0 {
		t.Fatal("this machine's memory could not be read")
	}
	if got := debug.SetMemoryLimit(-1); got != want {
		t.Errorf("memory limit %d, want %d (three quarters of %d)", got, want, machineMemory(os.DirFS("/")))
	}

	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetGCPercent(150)
	debug.SetMemoryLimit(1 << 30)
	replayGC()
	if got := debug.SetGCPercent(100); got != 150 {
		t.Errorf("with GOGC=150 set, GC percent %d", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("with GOMEMLIMIT=1GiB set, memory limit %d", got)
	}
}
