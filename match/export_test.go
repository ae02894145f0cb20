package match

// Monotone exposes monotone for tests: it returns a copy of m with non-increasing m/u.
func Monotone(m, u []float64) []float64 {
	out := append([]float64(nil), m...)
	monotone(out, u)
	return out
}
