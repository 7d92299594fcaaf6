package compiler

import "github.com/agext/levenshtein"

// suggest returns the candidate closest to name, if it is close enough to
// be a typo.
func suggest(name string, candidates []string) string {
	best, bestDist := "", len(name)/2+2
	for _, c := range candidates {
		if d := levenshtein.Distance(name, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}
