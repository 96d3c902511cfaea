package detect_test

import "time"

func timeSec(s int) time.Duration { return time.Duration(s) * time.Second }
