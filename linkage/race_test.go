//go:build race

package linkage_test

// raceEnabled is true under the race detector, which makes the 5000-record run too slow
// for CI; the tests then use the 1000-record file.
const raceEnabled = true
