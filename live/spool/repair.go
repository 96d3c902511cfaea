package spool

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// repairTail cuts a torn last entry off the tail segment. A crash (power
// loss, SIGKILL in the middle of a write) can leave a partial entry at the
// end of the newest segment, and the log refuses to open (errTorn).
// Such an entry was never acknowledged (its fsync had not returned), so
// dropping it loses nothing that was promised, while refusing to start would
// hold back every complete entry before it. Only the binary format's framing
// (uvarint length, then data) is read here.
//
// A damaged length prefix (a flipped byte, not a torn write) looks the same
// to the WAL, but complete entries follow it: their own checksummed frames
// are found in the cut bytes and returned, for Open to append again, so that
// one damaged byte costs at most the entry it hit, not every acknowledged
// one after it.
func repairTail(dir string) (cut int64, saved [][]byte, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, nil, err
	}
	var tail string
	var tailIndex uint64
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || len(name) != 20 {
			continue
		}
		idx, err := strconv.ParseUint(name, 10, 64)
		if err != nil || idx == 0 {
			continue
		}
		if idx >= tailIndex {
			tail, tailIndex = filepath.Join(dir, name), idx
		}
	}
	if tail == "" {
		return 0, nil, fmt.Errorf("no segment file to repair")
	}
	data, err := os.ReadFile(tail)
	if err != nil {
		return 0, nil, err
	}
	good := 0
	for good < len(data) {
		size, n := binary.Uvarint(data[good:])
		if n <= 0 || uint64(len(data)-good-n) < size {
			break
		}
		good += n + int(size)
	}
	if good == len(data) {
		return 0, nil, fmt.Errorf("tail segment %s has no torn entry", tail)
	}
	saved = salvage(data[good:])
	f, err := os.OpenFile(tail, os.O_WRONLY, 0)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	if err := f.Truncate(int64(good)); err != nil {
		return 0, nil, err
	}
	return int64(len(data) - good), saved, f.Sync()
}
