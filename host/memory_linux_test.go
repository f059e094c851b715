package host

import "testing"

// TestParseMemoryLimit: a cgroup limit is a byte count; "max", nothing or
// garbage is no limit.
func TestParseMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1073741824\n", 1 << 30, true},
		{"9223372036854771712\n", 9223372036854771712, true},
		{"max\n", 0, false},
		{"", 0, false},
		{"0\n", 0, false},
		{"-1", 0, false},
		{"12k", 0, false},
	} {
		if got, ok := parseMemoryLimit(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("parseMemoryLimit(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
