package clickhouse

import "time"

// DateTime (seconds since 1970 as a UInt32) covers 1970-01-01 00:00:00 to
// 2106-02-07 06:28:15 UTC, but 18.16.1's date tables end with 2105: there,
// toYYYYMMDD of a later second is 19700101, a partition retention drops at
// once. An event dated outside 1970..2105 (a skewed or forged clock) would
// wrap around in ts or land in the wrong partition; ts and the partition
// take the nearest end of that range instead, while time_us and the event
// JSON keep the exact time.
var (
	minDateTime = time.Unix(0, 0).UTC()
	maxDateTime = time.Date(2105, 12, 31, 23, 59, 59, 0, time.UTC)
)

// dateTime is t, to the second, within DateTime's range.
func dateTime(t time.Time) time.Time {
	t = t.UTC()
	switch {
	case t.Before(minDateTime):
		return minDateTime
	case t.After(maxDateTime):
		return maxDateTime
	}
	return t.Truncate(time.Second)
}

// dateTimeSeconds is t as the argument of toDateTime(?), within range.
func dateTimeSeconds(t time.Time) int64 { return dateTime(t).Unix() }
