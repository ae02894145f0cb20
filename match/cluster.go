package match

import "slices"

// Cluster groups n records into entities: records joined by pairs whose probability is at
// or above threshold are in one cluster (connected components). It returns each record's
// cluster label, the smallest record position in its cluster, so the result does not
// depend on the order of pairs.
func Cluster(n int, pairs []Pair, threshold float64) []int {
	return ClusterMax(n, pairs, threshold, 0)
}

// ClusterMax is Cluster with a guard against chaining: pairs are joined strongest first, and
// a pair that would make a cluster larger than maxSize records is left out, so a long chain
// of weak links cannot pull unrelated records together. maxSize 0 means no limit. The
// result does not depend on the order of pairs.
func ClusterMax(n int, pairs []Pair, threshold float64, maxSize int) []int {
	if maxSize > 0 {
		pairs = slices.Clone(pairs)
		slices.SortFunc(pairs, func(x, y Pair) int {
			switch {
			case x.Probability > y.Probability:
				return -1
			case x.Probability < y.Probability:
				return 1
			case x.A != y.A:
				return x.A - y.A
			}
			return x.B - y.B
		})
	}
	size := make([]int, n)
	parent := make([]int, n)
	for i := range parent {
		parent[i] = i
		size[i] = 1
	}
	find := func(x int) int {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	for _, p := range pairs {
		if p.Probability < threshold {
			continue
		}
		a, b := find(p.A), find(p.B)
		if a == b || maxSize > 0 && size[a]+size[b] > maxSize {
			continue
		}
		if a > b {
			a, b = b, a
		}
		parent[b] = a
		size[a] += size[b]
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = find(i)
	}
	return labels
}

// Groups lists the clusters of two or more records from labels, each sorted, ordered by
// their first record.
func Groups(labels []int) [][]int {
	by := map[int][]int{}
	for i, l := range labels {
		by[l] = append(by[l], i)
	}
	var out [][]int
	for _, g := range by {
		if len(g) > 1 {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b []int) int { return a[0] - b[0] })
	return out
}
