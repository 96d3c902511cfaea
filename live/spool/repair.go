package spool

import "os"

// cutTail cuts a torn last entry off the tail segment at good, the end of
// its last complete entry. A crash (power loss, SIGKILL in the middle of a
// write) can leave a partial entry at the end of the newest segment. Such
// an entry was never acknowledged (its fsync had not returned), so
// dropping it loses nothing that was promised, while refusing to start
// would hold back every complete entry before it.
//
// A damaged length prefix (a flipped byte, not a torn write) looks the
// same, but complete entries follow it: their own checksummed frames are
// found in the cut bytes and returned, for Open to append again, so that
// one damaged byte costs at most the entry it hit, not every acknowledged
// one after it.
func cutTail(path string, data []byte, good int64) (saved [][]byte, err error) {
	saved = salvage(data[good:])
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := f.Truncate(good); err != nil {
		return nil, err
	}
	return saved, f.Sync()
}
